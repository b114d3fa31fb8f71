package config

import (
	"net"
	"strconv"
	"strings"
)

// Rules for the address-like keys, and the helpers that derive addresses
// from them.

// parseListener accepts "PLAINTEXT://host:port" or "host:port" (IPv6 hosts in
// brackets) and returns host and port. reason is empty on success.
func parseListener(s string) (host string, port int, reason string) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ",") {
		return "", 0, "only one listener is supported"
	}
	if name, rest, ok := strings.Cut(s, "://"); ok {
		if !strings.EqualFold(name, "PLAINTEXT") {
			return "", 0, "only PLAINTEXT listeners are supported"
		}
		s = rest
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, "must be PLAINTEXT://host:port or host:port"
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, "port must be between 0 and 65535"
	}
	return host, port, ""
}

// unspecifiedHost reports whether host means "every interface".
func unspecifiedHost(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

var listenersRule = custom{
	desc: "PLAINTEXT://host:port or host:port, optionally with CONTROLLER://host:port",
	fn: func(v value) string {
		client, ctl, reason := splitListeners(v.s)
		if reason != "" {
			return reason
		}
		if _, _, reason := parseListener(client); reason != "" {
			return reason
		}
		if ctl != "" {
			_, _, reason = parseListener(ctl)
		}
		return reason
	},
}

// controllerListenerName names the Raft listener in listeners, as KRaft's
// controller.listener.names does by default.
const controllerListenerName = "CONTROLLER"

// splitListeners separates the client listener from the controller (Raft)
// listener in a listeners value such as
// "PLAINTEXT://:9092,CONTROLLER://:9093".
func splitListeners(s string) (client, controller, reason string) {
	for _, l := range strings.Split(s, ",") {
		l = strings.TrimSpace(l)
		name, rest, named := strings.Cut(l, "://")
		switch {
		case named && strings.EqualFold(name, controllerListenerName):
			if controller != "" {
				return "", "", "only one CONTROLLER listener is supported"
			}
			controller = rest
		case client != "":
			return "", "", "only one client listener is supported"
		default:
			client = l
		}
	}
	if client == "" {
		return "", "", "a PLAINTEXT listener is required"
	}
	return client, controller, ""
}

var advertisedListenersRule = custom{
	desc: "PLAINTEXT://host:port or host:port",
	fn: func(v value) string {
		host, port, reason := parseListener(v.s)
		switch {
		case reason != "":
			return reason
		case host == "0.0.0.0" || host == "::":
			return "cannot advertise the non-routable meta-address " + host
		case port == 0:
			return "port must be between 1 and 65535"
		}
		return ""
	},
}

// splitDirs splits a log.dirs value, ignoring empty elements.
func splitDirs(s string) []string {
	var dirs []string
	for _, d := range strings.Split(s, ",") {
		if d = strings.TrimSpace(d); d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

var logDirsRule = custom{
	desc: "one directory",
	fn: func(v value) string {
		switch len(splitDirs(v.s)) {
		case 0:
			return "must name a directory"
		case 1:
			return ""
		}
		return "only one log directory is supported"
	},
}

// votersRule checks controller.quorum.voters: id@host:port, comma separated.
var votersRule = custom{
	desc: "a comma-separated list of id@host:port",
	fn: func(v value) string {
		for _, voter := range v.list {
			id, addr, ok := strings.Cut(voter, "@")
			n, err := strconv.ParseInt(id, 10, 32)
			if !ok || err != nil || n < 0 {
				return "voter " + strconv.Quote(voter) + " must be id@host:port with a non-negative id"
			}
			host, port, err := net.SplitHostPort(addr)
			if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
				return "voter " + strconv.Quote(voter) + " must be id@host:port"
			}
		}
		return ""
	},
}

// ListenAddr returns the host:port the broker listens on, e.g. ":9092".
func (b *Broker) ListenAddr() string {
	client, _, _ := splitListeners(b.String("listeners")) // validated when set
	host, port, _ := parseListener(client)
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// ControllerListenAddr returns the host:port of the CONTROLLER listener (the
// Raft transport of the metadata quorum), or "" when there is none.
func (b *Broker) ControllerListenAddr() string {
	_, ctl, _ := splitListeners(b.String("listeners"))
	if ctl == "" {
		return ""
	}
	host, port, _ := parseListener(ctl)
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// AdvertisedAddr returns the host:port given to clients: advertised.listeners
// when set, else the listen address with an unspecified host ("", 0.0.0.0,
// ::) replaced by localhost. A port of 0 is kept; the server substitutes the
// port it actually bound.
func (b *Broker) AdvertisedAddr() string {
	s := b.String("advertised.listeners")
	if s == "" {
		s, _, _ = splitListeners(b.String("listeners"))
	}
	host, port, _ := parseListener(s) // validated when set
	if unspecifiedHost(host) {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// DataDir returns the single log directory (log.dirs, or its alias log.dir).
func (b *Broker) DataDir() string {
	return splitDirs(b.String("log.dirs"))[0] // the rule guarantees exactly one
}
