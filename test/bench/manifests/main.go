// Command manifests writes a stream of realistic Kubernetes manifests for benchmarks
// (see package corpus).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/bailiff/bailiff/test/bench/corpus"
)

func main() {
	n := flag.Int("n", 10000, "number of objects")
	flag.Parse()
	if _, err := fmt.Fprint(os.Stdout, corpus.Stream(*n)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
