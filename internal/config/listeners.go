package config

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// The listener keys, as Kafka reads them:
//
//	listeners=PLAINTEXT://:9092,CONTROLLER://:9093
//	advertised.listeners=PLAINTEXT://broker1:9092,CONTROLLER://broker1:9093
//	listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
//	controller.listener.names=CONTROLLER
//	inter.broker.listener.name=PLAINTEXT
//
// Each listener has a name (upper-cased, as Kafka normalises it) and a
// security protocol from the map; controller.listener.names (CONTROLLER
// when unset) says which listeners are the controller's, the metadata
// quorum's Raft transport. Every other listener is a client listener.
// Gregor serves one client listener and at most one controller listener,
// both PLAINTEXT; the map may mention other protocols. A bare host:port in
// listeners is a PLAINTEXT listener named PLAINTEXT, in advertised.listeners
// the client listener's address (Gregor's shorthand, kept from before
// named listeners).
//
// The client listener is the one inter.broker.listener.name names, else the
// one named after security.inter.broker.protocol (PLAINTEXT), else the only
// client listener.

// Listener is one listener: an entry of listeners, or the address
// advertised for one.
type Listener struct {
	Name     string // upper-case listener name: PLAINTEXT, CONTROLLER, INTERNAL …
	Host     string // "" binds every interface (advertised: shown as localhost)
	Port     int    // 0 is an ephemeral port (advertised: the port bound)
	Protocol string // security protocol, from listener.security.protocol.map
}

// Addr is the listener's host:port (IPv6 hosts in brackets).
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// String is the listener in listeners form, NAME://host:port.
func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// Security protocols, Kafka's SecurityProtocol names.
const (
	protoPlaintext     = "PLAINTEXT"
	protoSSL           = "SSL"
	protoSASLPlaintext = "SASL_PLAINTEXT"
	protoSASLSSL       = "SASL_SSL"
)

var protocols = []string{protoPlaintext, protoSSL, protoSASLPlaintext, protoSASLSSL}

// defaultControllerListenerName names the controller listener when
// controller.listener.names is unset.
const defaultControllerListenerName = "CONTROLLER"

// parseEndpoint parses one NAME://host:port entry; bare (without "NAME://")
// reports that the entry had no name. reason is empty on success.
func parseEndpoint(s string) (l Listener, bare bool, reason string) {
	s = strings.TrimSpace(s)
	addr := s
	if name, rest, ok := strings.Cut(s, "://"); ok {
		if !validListenerName(name) {
			return l, false, fmt.Sprintf("listener %q: the name must be letters, digits, '_' or '-'", s)
		}
		l.Name, addr = strings.ToUpper(name), rest
	} else {
		bare = true
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return l, false, fmt.Sprintf("listener %q must be NAME://host:port (or host:port)", s)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return l, false, fmt.Sprintf("listener %q: port must be between 0 and 65535", s)
	}
	l.Host, l.Port = host, port
	return l, bare, ""
}

func validListenerName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// splitEntries splits a comma-separated value, dropping blank entries.
func splitEntries(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// parseListeners parses a listeners value; a bare host:port is named
// PLAINTEXT. Names must be unique, and so must ports, except that an IPv4
// and an IPv6 listener may share one (as Kafka allows) and port 0 (each
// gets its own ephemeral port).
func parseListeners(s string) ([]Listener, string) {
	var out []Listener
	for _, e := range splitEntries(s) {
		l, bare, reason := parseEndpoint(e)
		if reason != "" {
			return nil, reason
		}
		if bare {
			l.Name = protoPlaintext
		}
		for _, o := range out {
			switch {
			case o.Name == l.Name:
				return nil, fmt.Sprintf("listener name %s appears twice", l.Name)
			case o.Port == l.Port && l.Port != 0 && !differentIPFamilies(o.Host, l.Host):
				return nil, fmt.Sprintf("listeners %s and %s both use port %d", o.Name, l.Name, l.Port)
			}
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, "must name at least one listener"
	}
	return out, ""
}

// differentIPFamilies reports whether a and b are IP literals of different
// families (one IPv4, one IPv6), which may bind the same port.
func differentIPFamilies(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	return ia != nil && ib != nil && (ia.To4() == nil) != (ib.To4() == nil)
}

// unspecifiedHost reports whether host means "every interface".
func unspecifiedHost(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

var listenersRule = custom{
	desc: "NAME://host:port entries, comma separated",
	fn: func(v value) string {
		_, reason := parseListeners(v.s)
		return reason
	},
}

// parseAdvertised parses an advertised.listeners value; bare entries keep
// an empty name (the client listener's, resolved in deriveNetwork).
func parseAdvertised(s string) ([]Listener, string) {
	var out []Listener
	for _, e := range splitEntries(s) {
		l, _, reason := parseEndpoint(e)
		if reason != "" {
			return nil, reason
		}
		if l.Host == "0.0.0.0" || l.Host == "::" {
			return nil, "cannot advertise the non-routable meta-address " + l.Host
		}
		for _, o := range out {
			if o.Name == l.Name {
				if l.Name == "" {
					return nil, "more than one bare host:port entry"
				}
				return nil, fmt.Sprintf("listener name %s appears twice", l.Name)
			}
		}
		out = append(out, l)
	}
	return out, ""
}

var advertisedListenersRule = custom{
	desc: "NAME://host:port entries, comma separated",
	fn: func(v value) string {
		_, reason := parseAdvertised(v.s)
		return reason
	},
}

// parseProtocolMap parses listener.security.protocol.map: NAME:PROTOCOL
// entries, comma separated, names upper-cased and unique.
func parseProtocolMap(s string) (map[string]string, string) {
	m := map[string]string{}
	for _, e := range splitEntries(s) {
		name, proto, ok := strings.Cut(e, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		switch {
		case !ok || !validListenerName(name):
			return nil, fmt.Sprintf("entry %q must be NAME:PROTOCOL", e)
		case !slices.Contains(protocols, proto):
			return nil, fmt.Sprintf("entry %q: the protocol must be one of %s", e, strings.Join(protocols, ", "))
		case m[name] != "":
			return nil, fmt.Sprintf("listener name %s appears twice", name)
		}
		m[name] = proto
	}
	return m, ""
}

var protocolMapRule = custom{
	desc: "NAME:PROTOCOL entries, comma separated",
	fn: func(v value) string {
		_, reason := parseProtocolMap(v.s)
		return reason
	},
}

// splitDirs splits a log.dirs value, ignoring empty elements.
func splitDirs(s string) []string { return splitEntries(s) }

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
		_, reason := parseVoters(v.list)
		return reason
	},
}

func parseVoters(list []string) (map[int32]string, string) {
	out := make(map[int32]string, len(list))
	for _, voter := range list {
		id, addr, ok := strings.Cut(voter, "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n < 0 {
			return nil, "voter " + strconv.Quote(voter) + " must be id@host:port with a non-negative id"
		}
		host, port, err := net.SplitHostPort(addr)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return nil, "voter " + strconv.Quote(voter) + " must be id@host:port"
		}
		if _, dup := out[int32(n)]; dup {
			return nil, fmt.Sprintf("voter id %d appears twice", n)
		}
		out[int32(n)] = addr
	}
	return out, ""
}

// bootstrapServersRule checks controller.quorum.bootstrap.servers:
// host:port, comma separated.
var bootstrapServersRule = custom{
	desc: "a comma-separated list of host:port",
	fn: func(v value) string {
		for _, s := range v.list {
			host, port, err := net.SplitHostPort(s)
			if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 0 || p > 65535 {
				return "bootstrap server " + strconv.Quote(s) + " must be host:port"
			}
		}
		return ""
	},
}

// network is what the listener and quorum keys resolve to, derived from a
// snapshot's effective values by deriveNetwork.
type network struct {
	listeners  []Listener // as in listeners, with their protocols
	advertised []Listener // the client's and the controller's, hosts resolved
	client     int        // index in listeners
	controller int        // index in listeners; -1: none
	voters     map[int32]string
}

// deriveNetwork resolves and cross-checks the listener and quorum keys.
func (st *state) deriveNetwork() (*network, *Error) {
	bad := func(key, format string, args ...any) *Error {
		v := st.eff[brokerIndex[key]]
		return &Error{Key: key, Value: v.s, Reason: fmt.Sprintf(format, args...), Origin: v.origin, Err: ErrInvalidValue}
	}
	set := func(key string) bool { return st.src[brokerIndex[key]] != SourceDefaultConfig }
	get := func(key string) value { return st.eff[brokerIndex[key]] }

	// Rules of each key alone passed when it was set.
	n := &network{controller: -1}
	n.listeners, _ = parseListeners(get("listeners").s)
	protoMap, _ := parseProtocolMap(get("listener.security.protocol.map").s)
	ctlNames := []string{defaultControllerListenerName}
	if set("controller.listener.names") {
		ctlNames = nil
		for _, e := range splitEntries(get("controller.listener.names").s) {
			ctlNames = append(ctlNames, strings.ToUpper(e))
		}
	}
	names := make([]string, len(n.listeners))
	for i, l := range n.listeners {
		names[i] = l.Name
	}

	for i := range n.listeners {
		l := &n.listeners[i]
		proto, ok := protoMap[l.Name]
		if !ok {
			// As KRaft does when the map is left at its default: controller
			// listeners are PLAINTEXT.
			if set("listener.security.protocol.map") || !slices.Contains(ctlNames, l.Name) {
				return nil, bad("listeners", "listener %s has no security protocol: add %s:PLAINTEXT to listener.security.protocol.map", l.Name, l.Name)
			}
			proto = protoPlaintext
		}
		if l.Protocol = proto; proto != protoPlaintext {
			return nil, bad("listeners", "listener %s uses %s: %s listeners are not supported yet", l, proto, proto)
		}
		if slices.Contains(ctlNames, l.Name) {
			if n.controller >= 0 {
				return nil, bad("controller.listener.names", "%s and %s are both controller listeners: Gregor serves one", n.listeners[n.controller].Name, l.Name)
			}
			n.controller = i
		}
	}
	if set("controller.listener.names") {
		if len(ctlNames) == 0 {
			return nil, bad("controller.listener.names", "must name a listener")
		}
		for _, c := range ctlNames {
			if !slices.Contains(names, c) {
				return nil, bad("controller.listener.names", "%s is not among the listeners (%s)", c, strings.Join(names, ", "))
			}
		}
	}

	var clients []int
	for i := range n.listeners {
		if i != n.controller {
			clients = append(clients, i)
		}
	}
	if len(clients) == 0 {
		return nil, bad("listeners", "a client listener is required besides the controller listener %s", n.listeners[n.controller].Name)
	}
	n.client = -1
	if set("inter.broker.listener.name") {
		if set("security.inter.broker.protocol") {
			return nil, bad("inter.broker.listener.name", "set either inter.broker.listener.name or security.inter.broker.protocol, not both")
		}
		want := strings.ToUpper(get("inter.broker.listener.name").s)
		for _, i := range clients {
			if n.listeners[i].Name == want {
				n.client = i
			}
		}
		if n.client < 0 {
			if n.controller >= 0 && n.listeners[n.controller].Name == want {
				return nil, bad("inter.broker.listener.name", "%s is the controller listener, not a client listener", want)
			}
			return nil, bad("inter.broker.listener.name", "%s is not among the listeners (%s)", want, strings.Join(names, ", "))
		}
	} else {
		proto := get("security.inter.broker.protocol").s
		if proto != protoPlaintext {
			return nil, bad("security.inter.broker.protocol", "%s between brokers is not supported yet", proto)
		}
		for _, i := range clients {
			if n.listeners[i].Name == proto {
				n.client = i
			}
		}
		if n.client < 0 && len(clients) == 1 {
			n.client = clients[0]
		}
		if n.client < 0 {
			return nil, bad("listeners", "several client listeners and none named %s: set inter.broker.listener.name", proto)
		}
	}
	if len(clients) > 1 {
		var others []string
		for _, i := range clients {
			if i != n.client {
				others = append(others, n.listeners[i].Name)
			}
		}
		return nil, bad("listeners", "Gregor serves one client listener for now (%s); %s would not be served", n.listeners[n.client].Name, strings.Join(others, ", "))
	}

	// advertised.listeners: its entries for the client and the controller,
	// else the listeners themselves; an unspecified host as localhost.
	adv, _ := parseAdvertised(get("advertised.listeners").s)
	advertise := func(i int) (Listener, bool) {
		l := n.listeners[i]
		found := false
		for _, a := range adv {
			if a.Name == l.Name || a.Name == "" && i == n.client {
				l.Host, l.Port, found = a.Host, a.Port, true
			}
		}
		if unspecifiedHost(l.Host) {
			l.Host = "localhost"
		}
		return l, found
	}
	for _, a := range adv {
		if a.Name != "" && !slices.Contains(names, a.Name) {
			return nil, bad("advertised.listeners", "listener %s is not among the listeners (%s)", a.Name, strings.Join(names, ", "))
		}
	}
	for i := range n.listeners {
		if i != n.client && i != n.controller {
			continue
		}
		l, found := advertise(i)
		if i == n.client && len(adv) > 0 && !found {
			return nil, bad("advertised.listeners", "must include the client listener %s", l.Name)
		}
		n.advertised = append(n.advertised, l)
	}

	voters, reason := parseVoters(get("controller.quorum.voters").list)
	if reason != "" {
		return nil, bad("controller.quorum.voters", "%s", reason)
	}
	self := int32(get("node.id").i)
	bootstrap := get("controller.quorum.bootstrap.servers").list
	switch {
	case len(voters) > 0:
		n.voters = voters
	case len(bootstrap) > 0:
		if n.controller < 0 {
			return nil, bad("controller.quorum.bootstrap.servers", "needs a controller listener in listeners (%s://host:port)", ctlNames[0])
		}
		if len(bootstrap) > 1 || !n.namesOwnController(bootstrap[0]) {
			return nil, bad("controller.quorum.bootstrap.servers", "only this node's own controller listener (%s) is supported, a one-node quorum; to join or form a quorum of several nodes, list its voters in controller.quorum.voters (id@host:port,...)", n.listeners[n.controller].Addr())
		}
		ctl := n.advertisedController()
		n.voters = map[int32]string{self: ""}
		if ctl.Port != 0 {
			n.voters[self] = ctl.Addr()
		}
	default:
		n.voters = map[int32]string{self: ""}
	}
	return n, nil
}

// namesOwnController reports whether a bootstrap server host:port is this
// node's controller listener: its port the listener's (or advertised) port,
// its host the listener's or advertised host, or a loopback or wildcard
// address.
func (n *network) namesOwnController(server string) bool {
	host, p, _ := net.SplitHostPort(server) // checked by bootstrapServersRule
	port, _ := strconv.Atoi(p)
	ctl, adv := n.listeners[n.controller], n.advertisedController()
	if port != ctl.Port && port != adv.Port {
		return false
	}
	if strings.EqualFold(host, ctl.Host) || strings.EqualFold(host, adv.Host) || unspecifiedHost(host) || strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (n *network) advertisedController() Listener {
	for _, l := range n.advertised {
		if l.Name == n.listeners[n.controller].Name {
			return l
		}
	}
	panic("config: controller listener without an advertised address")
}

func (b *Broker) net() *network { return b.cur.Load().net }

// Listeners returns every listener of listeners, in order, with its
// security protocol (always PLAINTEXT today).
func (b *Broker) Listeners() []Listener { return slices.Clone(b.net().listeners) }

// AdvertisedListeners returns the addresses given out for the client
// listener and, when there is one, the controller listener, in listeners
// order: advertised.listeners' entry for each, else the listener itself, an
// unspecified host ("", 0.0.0.0, ::) shown as localhost. A port of 0 stands
// for the port the listener bound.
func (b *Broker) AdvertisedListeners() []Listener { return slices.Clone(b.net().advertised) }

// ClientListener returns the listener clients (and other brokers) connect
// to: inter.broker.listener.name's, else the one named after
// security.inter.broker.protocol (PLAINTEXT), else the only non-controller
// listener.
func (b *Broker) ClientListener() Listener {
	n := b.net()
	return n.listeners[n.client]
}

// ControllerListener returns the controller (Raft) listener, the one
// controller.listener.names (default CONTROLLER) names, if listeners has
// one.
func (b *Broker) ControllerListener() (Listener, bool) {
	n := b.net()
	if n.controller < 0 {
		return Listener{}, false
	}
	return n.listeners[n.controller], true
}

// ListenAddr returns the host:port the client listener binds, e.g. ":9092".
func (b *Broker) ListenAddr() string { return b.ClientListener().Addr() }

// ControllerListenAddr returns the host:port of the controller listener
// (the Raft transport of the metadata quorum), or "" when there is none.
func (b *Broker) ControllerListenAddr() string {
	if l, ok := b.ControllerListener(); ok {
		return l.Addr()
	}
	return ""
}

// AdvertisedAddr returns the host:port given to clients: the client
// listener's advertised address (see AdvertisedListeners). A port of 0 is
// kept; the server substitutes the port it actually bound.
func (b *Broker) AdvertisedAddr() string {
	n := b.net()
	for _, l := range n.advertised {
		if l.Name == n.listeners[n.client].Name {
			return l.Addr()
		}
	}
	panic("config: client listener without an advertised address")
}

// QuorumVoters returns the metadata quorum's voters, node id → Raft
// address host:port:
//   - controller.quorum.voters when set (controller.quorum.bootstrap.servers
//     is then ignored);
//   - else, when controller.quorum.bootstrap.servers names this node's own
//     controller listener (a single node, as Kafka's sample
//     server.properties has it), this node alone, at its advertised
//     controller address, or "" when that port is 0 (not known before the
//     listener binds); other bootstrap servers are refused at load;
//   - else this node alone with "": a one-voter quorum on the controller
//     listener if the node has one, in memory otherwise.
//
// The map is the caller's.
func (b *Broker) QuorumVoters() map[int32]string { return maps.Clone(b.net().voters) }

// DataDir returns the single log directory (log.dirs, or its alias log.dir).
func (b *Broker) DataDir() string {
	return splitDirs(b.String("log.dirs"))[0] // the rule guarantees exactly one
}
