package main

import (
	"context"

	"github.com/spf13/cobra"

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

func (f *policyFlags) files() policy.Files {
	return policy.Files{ConfigFile: f.configFile, PolicyDirs: f.policyDirs}
}

// engine loads the configuration and compiles the policies; a problem with either is a
// usage error.
func (f *policyFlags) engine(ctx context.Context) (*policy.Engine, error) {
	return f.engineWith(ctx, nil)
}

// engineWith is engine with the options changed by adjust (nil: none).
func (f *policyFlags) engineWith(ctx context.Context, adjust func(*policy.Options)) (*policy.Engine, error) {
	opts, err := f.files().Options()
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	if adjust != nil {
		adjust(&opts)
	}
	e, err := policy.New(ctx, opts)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return e, nil
}
