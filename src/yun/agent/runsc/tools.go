//go:build tools

// The gVisor runtime Yun builds (`python -m yun.agent.runsc`): its runsc command, at the
// version go.mod pins. Nothing of Yun is written in Go; this file only names what to build.
package runsc

import _ "gvisor.dev/gvisor/runsc"
