//go:build unix

package sink

import (
	"errors"
	"net"
	"syscall"
)

// peekClosed looks, without waiting and without taking anything, at whether conn has anything
// to read: EOF, a reset or data all mean the server is done with it (closed true). ok is false
// when conn is no socket it can look into.
func peekClosed(conn net.Conn) (closed, ok bool) {
	sc, isSys := conn.(syscall.Conn)
	if !isSys {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var b [1]byte
	cerr := rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			// Nothing to read means open; EOF, data or an error (a reset) mean closed.
			closed = !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK)
			return true
		}
	})
	if cerr != nil {
		return true, true
	}
	return closed, true
}
