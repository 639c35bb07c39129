//go:build !unix

package diskqueue

import "os"

// lockQueueFile does nothing where flock does not exist: Bailiff's trail
// writers (webhook, auditor) run on Linux; other systems only build the CLI.
func lockQueueFile(*os.File) error { return nil }
