package cluster

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// peerProcess finds which of the given processes (pid -> name) holds the
// other end of conn, a TCP connection accepted on 127.0.0.1: the kernel's
// socket table (/proc/net/tcp, tcp6) gives the inode of the socket whose
// local port is conn's remote port and whose remote port is conn's local
// port, and /proc/PID/fd of each candidate shows whether it holds that
// socket. The client's socket exists before its connect returns, so it is
// found unless the client has closed it already. ok is false when no
// candidate holds it (the test process itself, or a closed socket).
func peerProcess(conn net.Conn, pids map[int]string) (name string, ok bool) {
	local, lok := conn.LocalAddr().(*net.TCPAddr)
	remote, rok := conn.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok || len(pids) == 0 {
		return "", false
	}
	inode := ""
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if inode = socketInode(table, remote.Port, local.Port); inode != "" {
			break
		}
	}
	if inode == "" {
		return "", false
	}
	want := "socket:[" + inode + "]"
	for pid, name := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && target == want {
				return name, true
			}
		}
	}
	return "", false
}

// socketInode returns the inode of the socket in a /proc/net/tcp-format
// table with the given local and remote ports, or "". A line reads
// "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt
// uid timeout inode ...", addresses as HEXIP:HEXPORT.
func socketInode(table string, localPort, remotePort int) string {
	f, err := os.Open(table)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		if hexPort(fields[1]) == localPort && hexPort(fields[2]) == remotePort && fields[9] != "0" {
			return fields[9]
		}
	}
	return ""
}

func hexPort(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return -1
	}
	p, err := strconv.ParseUint(addr[i+1:], 16, 16)
	if err != nil {
		return -1
	}
	return int(p)
}
