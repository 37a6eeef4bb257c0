//go:build unix

package main

import "syscall"

// privateFiles makes the files and directories this process creates from
// now on 0600 and 0700 (umask 077), whatever mode their creator asks for:
// kfake asks for 0644 and 0755.
func privateFiles() { syscall.Umask(0o077) }
