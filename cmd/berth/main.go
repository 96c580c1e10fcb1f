// Command berth is Berth's single binary: the control plane (`berth server`),
// the all-in-one single-machine setup (`berth dev`) and the tools around
// them. All logic lives under internal/; this file only hands over.
package main

import (
	"os"

	"github.com/berth/berth/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
