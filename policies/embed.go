// Package policies embeds Bailiff's Rego policy library and its default configuration,
// so the bailiff binary carries them and needs no files at run time.
package policies

import "embed"

// FS holds every policy, every policy test and data.yaml, at the paths they have here
// ("images/registry.rego", "data.yaml").
//
//go:embed data.yaml */*.rego
var FS embed.FS

// DefaultConfigFile is the path, inside FS, of the default configuration.
const DefaultConfigFile = "data.yaml"
