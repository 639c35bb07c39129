package scan

import (
	"context"
	"io"
	"slices"

	"github.com/bailiff/bailiff/pkg/manifest"
	"github.com/bailiff/bailiff/pkg/policy"
)

// BuildFunc builds the engine for objects of the given kinds.
type BuildFunc func(ctx context.Context, kinds []string) (*policy.Engine, error)

// Load reads the manifests at paths ("-" for stdin) and builds the engine for the kinds
// they hold. Building (compiling the policies) and decoding are the two costly steps;
// when every document names its kind on a top-level line, both run at once. Should
// decoding find a kind the lines did not name, the engine is built again for all of
// them, so the result never depends on the shortcut.
func Load(ctx context.Context, paths []string, stdin io.Reader, build BuildFunc) (*policy.Engine, []manifest.Object, []error, error) {
	docs := manifest.Split(paths, stdin)
	hinted, complete := docs.KindHints()
	type built struct {
		engine *policy.Engine
		err    error
	}
	early := make(chan built, 1)
	if complete {
		go func() {
			e, err := build(ctx, hinted)
			early <- built{e, err}
		}()
	}
	objs, readErrs := docs.Decode()
	kinds := Kinds(objs)
	if complete {
		b := <-early
		if b.err == nil && !isSubset(kinds, hinted) {
			b.engine, b.err = build(ctx, kinds)
		}
		return b.engine, objs, readErrs, b.err
	}
	engine, err := build(ctx, kinds)
	return engine, objs, readErrs, err
}

// Kinds lists the kinds of objs, in order of first appearance.
func Kinds(objs []manifest.Object) []string {
	var kinds []string
	for _, o := range objs {
		if k := o.Kind(); !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func isSubset(kinds, of []string) bool {
	for _, k := range kinds {
		if !slices.Contains(of, k) {
			return false
		}
	}
	return true
}
