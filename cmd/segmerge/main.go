// Command segmerge merges batches of sorted integer segments arriving over
// Kafka. Run 'segmerge --help' for the commands.
//
// The command line is a cobra tree built in root.go, one file per
// subcommand. Flags map onto the library packages' Config values and
// nothing else; a library's *setting.Error names a Config field, which the
// command renders with the flag that sets it; errors become exit codes in
// one place (execute).
package main

import "os"

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
