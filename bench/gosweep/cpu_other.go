//go:build !unix

package main

import "time"

// processCPU is not measured off unix; -1 marks it unknown in the output.
func processCPU() time.Duration { return -1 }
