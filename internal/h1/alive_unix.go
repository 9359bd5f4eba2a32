//go:build unix

package h1

import (
	"errors"
	"net"
	"syscall"
)

// alive reports whether an idle connection is still open: a non-blocking
// read finds nothing to read (EAGAIN). End of file means the server closed
// it; bytes mean it sent something unasked, which makes it unusable too.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf[:])
		return true
	}); err != nil {
		return false
	}
	return n < 0 && errors.Is(rerr, syscall.EAGAIN)
}
