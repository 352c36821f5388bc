package benchmarks

import (
	"os/exec"
	"syscall"
)

// setChildAttrs has the kernel kill the child when this process dies, so
// that no nats-server outlives a crashed or killed runner.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
