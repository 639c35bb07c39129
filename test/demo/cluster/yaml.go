package main

import "sigs.k8s.io/yaml"

// yamlOf renders one object as the YAML document kubectl applies.
func yamlOf(obj map[string]any) (string, error) {
	b, err := yaml.Marshal(obj)
	return string(b), err
}
