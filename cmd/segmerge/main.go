// Command segmerge merges batches of sorted integer segments arriving over
// Kafka. Run 'segmerge --help' for the commands.
package main

import (
	"os"

	"github.com/segmerge/segmerge/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
