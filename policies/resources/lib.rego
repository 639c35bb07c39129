# METADATA
# title: Resource helpers
# description: >-
#   Shared by the resources family (not a policy: no id): exact Kubernetes quantity
#   arithmetic, the "requests.cpu" key form of resources.require/defaults/max, and the
#   containers that can set resources. Quantities are parsed here rather than with OPA's
#   units.parse because units.parse rejects the n and u suffixes, accepts strings the API
#   server refuses ("1K", "1mi", "1.5e3M") and is inexact for large milli values
#   ("12345678901234567m"); lib_test.rego pins each of these findings.
# scope: package
package bailiff.resources.lib

import data.bailiff.lib.k8s

# Quantities
#
# A Kubernetes quantity (k8s.io/apimachinery resource.Quantity):
#   <sign>? <digits> ("." <digits>?)? <suffix>?   or   <sign>? "." <digits> <suffix>?
#   suffix: Ki Mi Gi Ti Pi Ei (powers of 2) | n u m "" k M G T P E (powers of 10)
#           | e<int> or E<int> (a decimal exponent: "1e3", "1E3"; but "1E" is one exa)
# The API server rounds a value up to a whole nano-unit and caps it at 2^63-1 units;
# nano(q) does the same, so two quantities compare exactly as Kubernetes compares them.

quantity_pattern := `^([+-]?)([0-9]*)(?:\.([0-9]*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$`

# Each suffix as a power of ten and a binary factor.
suffixes := {
	"": {"exp10": 0, "factor": 1},
	"n": {"exp10": -9, "factor": 1},
	"u": {"exp10": -6, "factor": 1},
	"m": {"exp10": -3, "factor": 1},
	"k": {"exp10": 3, "factor": 1},
	"M": {"exp10": 6, "factor": 1},
	"G": {"exp10": 9, "factor": 1},
	"T": {"exp10": 12, "factor": 1},
	"P": {"exp10": 15, "factor": 1},
	"E": {"exp10": 18, "factor": 1},
	"Ki": {"exp10": 0, "factor": 1024},
	"Mi": {"exp10": 0, "factor": 1048576},
	"Gi": {"exp10": 0, "factor": 1073741824},
	"Ti": {"exp10": 0, "factor": 1099511627776},
	"Pi": {"exp10": 0, "factor": 1125899906842624},
	"Ei": {"exp10": 0, "factor": 1152921504606846976},
}

# The largest quantity Kubernetes represents, 2^63-1 units, in nano-units.
max_nano := 9223372036854775807000000000

# quantity_text(q) is q as a string; YAML manifests and config may hold plain numbers
# (cpu: 2), which mean the same quantity.
quantity_text(q) := q if is_string(q)

quantity_text(q) := sprintf("%v", [q]) if is_number(q)

# is_quantity(q) holds when q is a quantity the API server accepts.
is_quantity(q) if parse(q)

# nano(q) is the quantity q in nano-units (1n = 1, 1 = 10^9) as an exact integer,
# rounded up and capped as the API server does. Undefined when q is not a quantity.
nano(q) := n if {
	p := parse(q)
	p.negative
	n := 0 - magnitude(p)
}

nano(q) := magnitude(p) if {
	p := parse(q)
	not p.negative
}

# parse(q) splits q into its significant digits (no leading zeros, no point), the power
# of ten they are scaled by, and the binary factor of its suffix.
parse(q) := {
	"negative": m[1] == "-",
	"digits": trim_left(concat("", [m[2], m[3]]), "0"),
	"exp10": exp10 - count(m[3]),
	"factor": factor,
} if {
	[m] := regex.find_all_string_submatch_n(quantity_pattern, quantity_text(q), 1)
	concat("", [m[2], m[3]]) != ""
	[exp10, factor] := suffix_scale(m[4])
}

suffix_scale(s) := [suffixes[s].exp10, suffixes[s].factor]

# A decimal exponent. Kubernetes truncates it to 32 bits ("1e-4294967289" would mean 10^7),
# so an exponent outside that range is refused rather than read differently.
suffix_scale(s) := [e, 1] if {
	regex.match(`^[eE][+-]?[0-9]+$`, s)
	e := signed_integer(substring(s, 1, -1))
	e >= -2147483648
	e <= 2147483647
}

signed_integer(s) := 0 - unsigned_integer(substring(s, 1, -1)) if startswith(s, "-")

signed_integer(s) := unsigned_integer(trim_prefix(s, "+")) if not startswith(s, "-")

# to_number refuses leading zeros ("007").
unsigned_integer(s) := to_number(trim_left(s, "0")) if trim_left(s, "0") != ""

unsigned_integer(s) := 0 if trim_left(s, "0") == ""

# magnitude(p) is |q| in nano-units: digits * 10^(exp10 + 9) * factor, rounded up to a
# whole number and capped at max_nano. Values far outside the representable range are
# settled from their digit count alone, so "1e2000000000" costs nothing.
magnitude(p) := 0 if p.digits == ""

magnitude(p) := max_nano if {
	p.digits != ""
	count(p.digits) + p.exp10 >= 20 # at least 10^19 units, above 2^63-1
}

# Below 10^-(9+19) units even the largest binary factor (2^60 < 10^19) stays under 1n.
magnitude(p) := 1 if {
	p.digits != ""
	count(p.digits) + p.exp10 <= -28
}

magnitude(p) := min({max_nano, ceil_scaled(to_number(p.digits) * p.factor, p.exp10 + 9)}) if {
	p.digits != ""
	count(p.digits) + p.exp10 < 20
	count(p.digits) + p.exp10 > -28
}

# ceil_scaled(n, e) is n * 10^e rounded up, for an integer n >= 0, done on the decimal
# digits so that it stays exact however large n is.
ceil_scaled(n, e) := to_number(sprintf("%d%s", [n, zeros(e)])) if e >= 0

ceil_scaled(n, e) := unsigned_integer(kept) + round_up(dropped) if {
	e < 0
	s := sprintf("%d", [n])
	cut := max({count(s) + e, 0})
	kept := substring(s, 0, cut)
	dropped := substring(s, cut, -1)
}

round_up(dropped) := 1 if trim_left(dropped, "0") != ""

round_up(dropped) := 0 if trim_left(dropped, "0") == ""

zeros(k) := concat("", ["0" | some _ in numbers.range(1, k)]) if k > 0

zeros(0) := ""

# above(a, b) holds when quantity a is larger than quantity b.
above(a, b) if nano(a) > nano(b)

# Resource keys
#
# resources.require, resources.defaults and resources.max name a value as
# "<requests|limits>.<resource>": "requests.cpu", "limits.nvidia.com/gpu".

sections := {"requests", "limits"}

# key_parts(key) is [section, resource] for a well-formed key; the resource may itself
# contain dots and slashes.
key_parts(key) := [section, resource] if {
	i := indexof(key, ".")
	i > 0
	section := substring(key, 0, i)
	section in sections
	resource := substring(key, i + 1, -1)
	resource != ""
}

# value(container, section, resource) is what the container sets; null counts as unset.
value(container, section, resource) := v if {
	v := container.resources[section][resource]
	v != null
}

# field_key(section, resource) is the key as a field-path suffix: "limits.memory", or
# `limits["nvidia.com/gpu"]` when the resource name has characters a path segment cannot.
field_key(section, resource) := sprintf("%s.%s", [section, resource]) if regex.match(`^[A-Za-z0-9_-]+$`, resource)

field_key(section, resource) := sprintf("%s[%q]", [section, resource]) if not regex.match(`^[A-Za-z0-9_-]+$`, resource)

# pointer_token(s) escapes s as one RFC 6901 reference token ("~" first, then "/").
pointer_token(s) := replace(replace(s, "~", "~0"), "/", "~1")

# Containers

# The containers that can set resources: containers and init containers. Ephemeral
# containers cannot (the API server refuses resources on them), so they are left out.
containers contains c if {
	some c in k8s.containers
	c.type in {"containers", "initContainers"}
}
