package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/org/macula/transport"
)

// buildVersion is the module version the binary was built from: the tag
// or pseudo-version `go install ...@version` and `go build` in a git
// checkout stamp, "devel" otherwise.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// versionInfo is what `macula version --json` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Protocol string `json:"software"`
	Go       string `json:"go"`
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of macula",
		Long:    "Print the version of this macula binary, the software name it announces to peers, and the Go version it was built with.",
		Example: "  macula version --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			v := versionInfo{Version: buildVersion(), Protocol: transport.Software, Go: runtime.Version()}
			if a.jsonOut {
				return a.printJSON(v)
			}
			_, err := fmt.Fprintf(a.stdout, "macula %s (%s, %s)\n", v.Version, v.Protocol, v.Go)
			return err
		},
	}
}
