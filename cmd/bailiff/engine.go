package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/policy"
)

// policyFlags are the flags every command that evaluates policies takes.
type policyFlags struct {
	configFile string
	policyDirs []string
}

func (f *policyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.configFile, "config", "", "configuration file (default: the built-in defaults)")
	cmd.Flags().StringArrayVar(&f.policyDirs, "policies", nil, "extra directory of Rego policies, loaded with the built-in library (repeatable)")
}

// sources are the embedded library plus the extra directories.
func (f *policyFlags) sources() []policy.Source {
	sources := []policy.Source{policy.Embedded()}
	for _, d := range f.policyDirs {
		sources = append(sources, policy.Dir(d))
	}
	return sources
}

// engine loads the configuration and compiles the policies. Extra policy directories
// are tested before use; the built-in library was tested when Bailiff was built.
func (f *policyFlags) engine(ctx context.Context) (*policy.Engine, error) {
	cfg, err := config.Default()
	if f.configFile != "" {
		cfg, err = config.Load(f.configFile)
	}
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	e, err := policy.New(ctx, policy.Options{Sources: f.sources(), Config: cfg, SkipTests: len(f.policyDirs) == 0})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return e, nil
}
