package bailiff.resources.lib_test

import data.bailiff.resources.lib

# What OPA's units.parse does with Kubernetes quantities, and why lib.nano exists.

test_units_parse_reads_m_as_milli_and_M_as_mega if {
	units.parse("500m") == 0.5
	units.parse("1M") == 1000000
}

test_units_parse_reads_k_and_K_alike_but_kubernetes_refuses_K if {
	units.parse("1k") == 1000
	units.parse("1K") == 1000
	lib.nano("1k") == 1000000000000
	not lib.is_quantity("1K")
}

test_units_parse_tells_binary_from_decimal_suffixes if {
	units.parse("1Ki") == 1024
	units.parse("1Mi") == 1048576
	units.parse("1Gi") == 1073741824
	units.parse("1G") == 1000000000
	units.parse("1E") == 1000000000000000000
	units.parse("1Ei") == 1152921504606846976
}

test_units_parse_reads_decimal_exponents if {
	units.parse("1e3") == 1000
	units.parse("1E3") == 1000
}

test_units_parse_cannot_read_nano_and_micro if {
	not units.parse("100n")
	not units.parse("250u")
	lib.nano("100n") == 100
	lib.nano("250u") == 250000
}

test_units_parse_accepts_what_kubernetes_refuses if {
	units.parse("1mi") == 1048576
	units.parse("1.5e3M") == 1500000000
	not lib.is_quantity("1mi")
	not lib.is_quantity("1.5e3M")
}

test_units_parse_is_inexact_for_large_milli_values if {
	units.parse("12345678901234567m") != units.parse("12345678901234.567")
	lib.nano("12345678901234567m") == lib.nano("12345678901234.567")
}

# lib.nano

test_decimal_suffixes if {
	lib.nano("1") == 1000000000
	lib.nano("500m") == 500000000
	lib.nano("1k") == 1000000000000
	lib.nano("1M") == 1000000000000000
	lib.nano("1G") == 1000000000000000000
	lib.nano("1T") == 1000000000000000000000
	lib.nano("1P") == 1000000000000000000000000
	lib.nano("1E") == 1000000000000000000000000000
}

test_binary_suffixes if {
	lib.nano("1Ki") == 1024000000000
	lib.nano("1Mi") == 1048576000000000
	lib.nano("1.5Gi") == 1610612736000000000
	lib.nano("1Ti") == 1099511627776000000000
	lib.nano("1Pi") == 1125899906842624000000000
	lib.nano("1Ei") == 1152921504606846976000000000
}

test_M_and_Mi_and_G_and_Gi_differ if {
	lib.above("1Mi", "1M")
	lib.above("1Gi", "1G")
	lib.above("1G", "1Mi")
	not lib.above("1000Mi", "1Gi")
}

test_exponents if {
	lib.nano("1e3") == lib.nano("1k")
	lib.nano("1E3") == lib.nano("1k")
	lib.nano("1e+3") == lib.nano("1k")
	lib.nano("1e-3") == lib.nano("1m")
	lib.nano("2.5e-07") == 250
}

test_the_same_amount_written_differently_is_equal if {
	lib.nano("0.5") == lib.nano("500m")
	lib.nano(".5") == lib.nano("500m")
	lib.nano("1.") == lib.nano("1")
	lib.nano("1024Ki") == lib.nano("1Mi")
	lib.nano("007") == lib.nano("7")
	lib.nano("0.1Ki") == lib.nano("102.4")
}

test_numbers_from_yaml_are_quantities if {
	lib.nano(2) == lib.nano("2")
	lib.nano(0.5) == lib.nano("500m")
}

test_without_digits_a_quantity_is_zero_as_kubernetes_reads_it if {
	lib.nano(".") == 0
	lib.nano("G") == 0
	lib.nano("-") == 0
	lib.nano("Ti") == 0
	not lib.is_quantity("Pi")
	not lib.is_quantity("E-10")
}

test_signs if {
	lib.nano("+1") == lib.nano("1")
	lib.nano("-1.5m") == -1500000
	lib.above("0", "-1")
}

test_values_below_one_nano_round_up if {
	lib.nano("0.0000000001") == 1
	lib.nano("1e-30") == 1
	lib.nano("0.5n") == 1
	lib.nano("1.0000000001") == 1000000001
	lib.nano("1.0000000000") == 1000000000
	lib.nano("0") == 0
}

test_binary_values_are_capped_at_2_to_the_63_units if {
	lib.nano("9Ei") == lib.max_nano
	lib.nano("8Ei") == lib.max_nano
	lib.nano("7Ei") == 8070450532247928832000000000
}

test_decimal_values_are_not_capped if {
	lib.nano("1e40") == 10000000000000000000000000000000000000000000000000
	lib.above("1e40", "1e39")
	lib.above("1e40", "9Ei")
	lib.above("1e999", "1e998")
}

test_the_table_of_powers_of_ten if {
	lib.powers_of_ten[0] == 1
	every k in numbers.range(1, count(lib.powers_of_ten) - 1) {
		lib.powers_of_ten[k] == product([10 | some _ in numbers.range(1, k)])
	}
	lib.pow10(0) == 1
	lib.pow10(40) == 10000000000000000000000000000000000000000
}

test_long_digit_strings_are_read_exactly if {
	long := concat("", ["1", concat("", ["0" | some _ in numbers.range(1, 449)]), "7"])
	lib.nano(sprintf("%se-450", [long])) == 1000000001
	lib.unsigned_integer("000123") == 123
	lib.unsigned_integer(concat("", ["1", concat("", ["0" | some _ in numbers.range(1, 400)])])) == product([10 | some _ in numbers.range(1, 400)])
	lib.above("1e500", "999999e494")
}

test_values_beyond_10_to_the_1000_compare_equal_and_above_all_others if {
	lib.nano("1e2000000000") == lib.huge_nano
	lib.nano("1e1001") == lib.huge_nano
	lib.above("1e1001", "999e997")
}

test_exponents_kubernetes_would_truncate_are_refused if {
	not lib.is_quantity("1e2147483648")
	not lib.is_quantity("1e-4294967289")
	lib.is_quantity("1e-2147483648")
}

test_malformed_quantities_are_refused if {
	not lib.is_quantity("")
	not lib.is_quantity("lots")
	not lib.is_quantity("1 Gi")
	not lib.is_quantity("1GB")
	not lib.is_quantity("1Gi ")
	not lib.is_quantity("1e")
	not lib.is_quantity("e")
	not lib.is_quantity(true)
}

# Resource keys

test_key_parts_split_on_the_first_dot if {
	lib.key_parts("requests.cpu") == ["requests", "cpu"]
	lib.key_parts("limits.nvidia.com/gpu") == ["limits", "nvidia.com/gpu"]
	not lib.key_parts("limit.cpu")
	not lib.key_parts("requests.")
	not lib.key_parts("cpu")
}

test_field_keys_quote_names_with_dots_or_slashes if {
	lib.field_key("limits", "ephemeral-storage") == "limits.ephemeral-storage"
	lib.field_key("limits", "nvidia.com/gpu") == `limits["nvidia.com/gpu"]`
}

test_pointer_tokens_escape_tilde_then_slash if {
	lib.pointer_token("nvidia.com/gpu") == "nvidia.com~1gpu"
	lib.pointer_token("a~/b") == "a~0~1b"
}

test_null_values_count_as_unset if {
	lib.value({"resources": {"limits": {"cpu": "1"}}}, "limits", "cpu") == "1"
	not lib.value({"resources": {"limits": {"cpu": null}}}, "limits", "cpu")
	not lib.value({"resources": {"limits": null}}, "limits", "cpu")
	not lib.value({}, "limits", "cpu")
}

test_ephemeral_containers_are_not_resource_containers if {
	pod := {"request": {"kind": {"kind": "Pod"}, "object": {"spec": {
		"containers": [{"name": "app"}],
		"initContainers": [{"name": "init"}],
		"ephemeralContainers": [{"name": "debug"}],
	}}}}
	{c.container.name | some c in lib.containers} == {"app", "init"} with input as pod
}

test_the_fast_path_agrees_with_the_exact_parser if {
	every q in [
		"0", "1", "2", "500m", "1m", "999999999m", "100k", "3M", "7G", "999999999G",
		"128Ki", "256Mi", "16Gi", "999999999Gi", "000123Mi", 8, 0,
		"2T", "1Ti", "9999999999Ti", "1234567890", # off the fast path: the exact parser
	] {
		lib.nano(q) == lib.nano_exact(q)
	}
}

test_forms_off_the_fast_path_still_parse if {
	lib.nano("1.5Gi") == 1610612736000000000
	lib.nano("1e3") == 1000000000000
	lib.nano("100n") == 100
	lib.nano("-2") == -2000000000
	not lib.nano("1K")
	not lib.nano("lots")
}
