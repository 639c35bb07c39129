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
#   <sign>? <digits>? ("." <digits>?)? <suffix>?, not empty; without digits it is 0
#   ("G", "-" and "." parse as 0, as the API server reads them; see readable)
#   suffix: Ki Mi Gi Ti Pi Ei (powers of 2) | n u m "" k M G T P E (powers of 10)
#           | e<int> or E<int> (a decimal exponent: "1e3", "1E3"; but "1E" is one exa)
# The API server rounds a value up to a whole nano-unit and caps binary-suffixed values at
# 2^63-1 units; nano(q) does the same, so two quantities compare exactly as Kubernetes
# compares them (up to 10^1000 units; larger ones all compare equal).

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

# The cap on binary-suffixed quantities, 2^63-1 units, in nano-units.
max_nano := 9223372036854775807000000000

# quantity_text(q) is q as a string; YAML manifests and config may hold plain numbers
# (cpu: 2), which mean the same quantity.
quantity_text(q) := q if is_string(q)

quantity_text(q) := sprintf("%v", [q]) if is_number(q)

# is_quantity(q) holds when q is a quantity the API server accepts.
is_quantity(q) if parse(q)

# nano(q) is the quantity q in nano-units (1n = 1, 1 = 10^9) as an exact integer,
# rounded up and capped as the API server does. Undefined when q is not a quantity.
#
# Almost every quantity in a manifest is a string holding a plain integer with a common
# suffix ("500m", "2", "16Gi"); those take a fast path through one regex and a
# multiplication. The exact parser below handles everything else (numbers included); a
# test checks the two agree on the fast forms. At most nine digits keep every fast value
# exact and far below the API server's cap on binary quantities (2^63-1 units).
nano(q) := n if {
	is_string(q)
	regex.match(`^[0-9]{1,9}(m|k|M|G|Ki|Mi|Gi)?$`, q)
	digits := trim_right(q, "mkMGi")
	n := to_number(digits) * plain_suffix_nano[substring(q, count(digits), -1)]
} else := nano_exact(q)

# The value in nano-units of one unit with each suffix the fast path accepts.
plain_suffix_nano := {
	"": 1000000000,
	"m": 1000000,
	"k": 1000000000000,
	"M": 1000000000000000,
	"G": 1000000000000000000,
	"Ki": 1024000000000,
	"Mi": 1048576000000000,
	"Gi": 1073741824000000000,
}

# nano_exact(q) is nano(q) computed by the exact parser, for any quantity.
nano_exact(q) := n if {
	p := parse(q)
	n := {false: 1, true: -1}[p.negative] * magnitude(p)
}

# parse(q) splits q into its significant digits (no leading zeros, no point), the power
# of ten they are scaled by, and the binary factor of its suffix.
parse(q) := {
	"negative": m[1] == "-",
	"digits": trim_left(concat("", [m[2], m[3]]), "0"),
	"exp10": exp10 - count(m[3]),
	"factor": factor,
} if {
	text := quantity_text(q)
	text != ""
	[m] := regex.find_all_string_submatch_n(quantity_pattern, text, 1)
	[exp10, factor] := suffix_scale(m[4])
	readable(concat("", [m[2], m[3]]), exp10, factor)
}

# The API server reads a quantity without digits ("G", "-", ".") as 0 only on its fast
# path: decimal scales down to n, binary suffixes up to Ti. Otherwise it refuses it.
readable(digits, _, _) if digits != ""

readable("", exp10, 1) if exp10 >= -9

readable("", _, factor) if {
	factor > 1
	factor <= 1099511627776
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

# unsigned_integer(s) is the digit string s as an exact integer. to_number refuses leading
# zeros ("007") and integers beyond about 10^308, so a long s is read 100 digits at a time.
unsigned_integer(s) := small_integer(s) if count(s) <= 100

unsigned_integer(s) := sum([v |
	some i in numbers.range(0, floor((count(s) - 1) / 100))
	v := chunk(s, i) * pow10(100 * i)
]) if {
	count(s) > 100
}

# chunk(s, i) is the value of the i-th group of 100 digits of s, counting from the right.
chunk(s, i) := small_integer(substring(s, start, end - start)) if {
	end := count(s) - (100 * i)
	start := max({end - 100, 0})
}

small_integer(s) := to_number(trim_left(s, "0")) if trim_left(s, "0") != ""

small_integer(s) := 0 if trim_left(s, "0") == ""

# pow10(k) is 10^k for k >= 0, built by multiplication beyond the table: it may be far
# above 10^308, which to_number cannot read.
pow10(k) := powers_of_ten[k] if k < count(powers_of_ten)

pow10(k) := product([10 | some _ in numbers.range(1, k)]) if k >= count(powers_of_ten)

powers_of_ten := [
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
	10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000,
	1000000000000000, 10000000000000000, 100000000000000000, 1000000000000000000,
	10000000000000000000, 100000000000000000000, 1000000000000000000000,
	10000000000000000000000, 100000000000000000000000, 1000000000000000000000000,
	10000000000000000000000000, 100000000000000000000000000, 1000000000000000000000000000,
	10000000000000000000000000000, 100000000000000000000000000000,
]

# magnitude(p) is |q| in nano-units, rounded up to a whole number as the API server does.
magnitude(p) := 0 if p.digits == ""

# Binary suffixes (Ki ... Ei): the API server caps these at 2^63-1 units.
magnitude(p) := min({max_nano, ceil_scaled(unsigned_integer(p.digits) * p.factor, p.exp10 + 9)}) if {
	p.digits != ""
	p.factor > 1
}

# Decimal quantities are not capped. Below 10^-9 units they round up to 1n; from 10^1000
# units on (far beyond anything a node has) they are settled from their digit count
# alone, so that "1e2000000000" costs nothing, and all compare equal to huge_nano.
magnitude(p) := 1 if {
	p.digits != ""
	p.factor == 1
	count(p.digits) + p.exp10 <= -9
}

magnitude(p) := ceil_scaled(unsigned_integer(p.digits), p.exp10 + 9) if {
	p.digits != ""
	p.factor == 1
	count(p.digits) + p.exp10 > -9
	count(p.digits) + p.exp10 <= 1000
}

magnitude(p) := huge_nano if {
	p.digits != ""
	p.factor == 1
	count(p.digits) + p.exp10 > 1000
}

# Larger than any quantity below 10^1000 units, in nano-units.
huge_nano := pow10(1010)

# ceil_scaled(n, e) is n * 10^e rounded up, for an integer n >= 0, done on the decimal
# digits so that it stays exact however large n is.
ceil_scaled(n, e) := n * pow10(e) if e >= 0

ceil_scaled(n, e) := unsigned_integer(kept) + round_up(dropped) if {
	e < 0
	s := sprintf("%d", [n])
	cut := max({count(s) + e, 0})
	kept := substring(s, 0, cut)
	dropped := substring(s, cut, -1)
}

round_up(dropped) := 1 if trim_left(dropped, "0") != ""

round_up(dropped) := 0 if trim_left(dropped, "0") == ""

# above(a, b) holds when quantity a is larger than quantity b.
above(a, b) if nano(a) > nano(b)

# Resource keys
#
# resources.require, resources.defaults and resources.max name a value as
# "<requests|limits>.<resource>": "requests.cpu", "limits.nvidia.com/gpu".

sections := {"requests", "limits"}

# key_parts(key) is [section, resource] for a well-formed key; the resource may itself
# contain dots and slashes. One body per section: OPA's rule index picks the body by the
# key's prefix, and a prefix test is cheaper than cutting the key at its first dot.
key_parts(key) := ["requests", resource] if {
	startswith(key, "requests.")
	resource := substring(key, 9, -1)
	resource != ""
}

key_parts(key) := ["limits", resource] if {
	startswith(key, "limits.")
	resource := substring(key, 7, -1)
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
containers := [c |
	some c in k8s.containers
	c.type != "ephemeralContainers"
]
