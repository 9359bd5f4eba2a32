//go:build !unix

package h1

import "net"

// alive cannot check a connection without a non-blocking read here; a
// closed one is caught by RoundTrip's retry instead.
func alive(net.Conn) bool { return true }
