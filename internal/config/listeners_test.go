package config

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
)

func TestConfigListeners(t *testing.T) {
	plain := func(name, host string, port int) Listener { return Listener{name, host, port, "PLAINTEXT"} }
	tests := []struct {
		name              string
		sets              []string
		listen, advertise string
		controller        string // ControllerListenAddr
		listeners         []Listener
		advertised        []Listener
	}{
		{name: "default", listen: ":9092", advertise: "localhost:9092",
			listeners: []Listener{plain("PLAINTEXT", "", 9092)}, advertised: []Listener{plain("PLAINTEXT", "localhost", 9092)}},
		{name: "bare host:port", sets: []string{"listeners=:9092"}, listen: ":9092", advertise: "localhost:9092"},
		{name: "wildcard v4", sets: []string{"listeners=0.0.0.0:9092"}, listen: "0.0.0.0:9092", advertise: "localhost:9092"},
		{name: "named", sets: []string{"listeners=PLAINTEXT://0.0.0.0:9092"}, listen: "0.0.0.0:9092", advertise: "localhost:9092"},
		{name: "lower-case name", sets: []string{"listeners=plaintext://127.0.0.1:0"}, listen: "127.0.0.1:0", advertise: "127.0.0.1:0",
			listeners: []Listener{plain("PLAINTEXT", "127.0.0.1", 0)}},
		{name: "ephemeral", sets: []string{"listeners=127.0.0.1:0"}, listen: "127.0.0.1:0", advertise: "127.0.0.1:0"},
		{name: "wildcard v6", sets: []string{"listeners=[::]:9092"}, listen: "[::]:9092", advertise: "localhost:9092"},
		{name: "v6 loopback", sets: []string{"listeners=PLAINTEXT://[::1]:9093"}, listen: "[::1]:9093", advertise: "[::1]:9093"},
		{name: "host name", sets: []string{"listeners=broker-1.internal:9092"}, listen: "broker-1.internal:9092", advertise: "broker-1.internal:9092"},
		{name: "advertised named", sets: []string{"listeners=:9092", "advertised.listeners=PLAINTEXT://kafka.example.com:19092"},
			listen: ":9092", advertise: "kafka.example.com:19092"},
		{name: "advertised bare", sets: []string{"advertised.listeners=10.0.0.5:9092"}, listen: ":9092", advertise: "10.0.0.5:9092"},
		{name: "advertised empty host", sets: []string{"advertised.listeners=:19092"}, listen: ":9092", advertise: "localhost:19092"},
		{name: "advertised port 0 is the bound port", sets: []string{"listeners=127.0.0.1:0", "advertised.listeners=PLAINTEXT://127.0.0.1:0"},
			listen: "127.0.0.1:0", advertise: "127.0.0.1:0"},
		{name: "controller by default name", sets: []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093"},
			listen: ":9092", advertise: "localhost:9092", controller: ":9093",
			listeners:  []Listener{plain("PLAINTEXT", "", 9092), plain("CONTROLLER", "", 9093)},
			advertised: []Listener{plain("PLAINTEXT", "localhost", 9092), plain("CONTROLLER", "localhost", 9093)}},
		{name: "controller first", sets: []string{"listeners=CONTROLLER://127.0.0.1:9093,PLAINTEXT://127.0.0.1:9092"},
			listen: "127.0.0.1:9092", advertise: "127.0.0.1:9092", controller: "127.0.0.1:9093"},
		{name: "kafka docker names", sets: []string{
			"listeners=CLIENT://:19092,RAFT://:29093",
			"listener.security.protocol.map=CLIENT:PLAINTEXT,RAFT:PLAINTEXT",
			"controller.listener.names=RAFT",
			"inter.broker.listener.name=CLIENT",
			"advertised.listeners=CLIENT://broker:19092,RAFT://broker:29093",
		}, listen: ":19092", advertise: "broker:19092", controller: ":29093",
			listeners:  []Listener{plain("CLIENT", "", 19092), plain("RAFT", "", 29093)},
			advertised: []Listener{plain("CLIENT", "broker", 19092), plain("RAFT", "broker", 29093)}},
		{name: "the only client listener needs no inter.broker.listener.name", sets: []string{
			"listeners=EXTERNAL://:9092,CONTROLLER://:9093", "listener.security.protocol.map=EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"},
			listen: ":9092", advertise: "localhost:9092", controller: ":9093"},
		{name: "the map may mention SSL", sets: []string{
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,sasl_ssl:sasl_ssl"}, listen: ":9092", advertise: "localhost:9092"},
		{name: "IPv4 and IPv6 on one port", sets: []string{
			"listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://[::1]:9092"}, listen: "127.0.0.1:9092", advertise: "127.0.0.1:9092", controller: "[::1]:9092"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Load(LoadOptions{Sets: tt.sets})
			if err != nil {
				t.Fatal(err)
			}
			if got := b.ListenAddr(); got != tt.listen {
				t.Errorf("ListenAddr = %q, want %q", got, tt.listen)
			}
			if got := b.AdvertisedAddr(); got != tt.advertise {
				t.Errorf("AdvertisedAddr = %q, want %q", got, tt.advertise)
			}
			if got := b.ControllerListenAddr(); got != tt.controller {
				t.Errorf("ControllerListenAddr = %q, want %q", got, tt.controller)
			}
			if _, ok := b.ControllerListener(); ok != (tt.controller != "") {
				t.Errorf("ControllerListener ok = %v", ok)
			}
			if tt.listeners != nil && !reflect.DeepEqual(b.Listeners(), tt.listeners) {
				t.Errorf("Listeners = %+v, want %+v", b.Listeners(), tt.listeners)
			}
			if tt.advertised != nil && !reflect.DeepEqual(b.AdvertisedListeners(), tt.advertised) {
				t.Errorf("AdvertisedListeners = %+v, want %+v", b.AdvertisedListeners(), tt.advertised)
			}
			if c := b.ClientListener(); c.Addr() != tt.listen {
				t.Errorf("ClientListener = %+v", c)
			}
		})
	}
}

func TestConfigListenersRejected(t *testing.T) {
	tests := []struct {
		name string
		sets []string
		key  string // the key the error names
		want string
	}{
		{"SSL listener", []string{"listeners=SSL://:9093"}, "listeners", "SSL listeners are not supported yet"},
		{"SASL listener", []string{"listeners=PLAINTEXT://:9092,SASL_SSL://:9094"}, "listeners", "SASL_SSL listeners are not supported yet"},
		{"mapped to SSL", []string{"listeners=CLIENT://:9092", "listener.security.protocol.map=CLIENT:SSL"}, "listeners", "CLIENT://:9092 uses SSL: SSL listeners are not supported yet"},
		{"duplicate name", []string{"listeners=PLAINTEXT://:9092,PLAINTEXT://:9093"}, "listeners", "listener name PLAINTEXT appears twice"},
		{"duplicate port", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9092"}, "listeners", "PLAINTEXT and CONTROLLER both use port 9092"},
		{"two controller listeners", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093,CTL2://:9094",
			"controller.listener.names=CONTROLLER,CTL2", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,CTL2:PLAINTEXT"},
			"controller.listener.names", "CONTROLLER and CTL2 are both controller listeners"},
		{"controller only", []string{"listeners=CONTROLLER://:9093"}, "listeners", "a client listener is required"},
		{"two client listeners", []string{"listeners=PLAINTEXT://:9092,PLAINTEXT_HOST://:29092,CONTROLLER://:9093",
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT,CONTROLLER:PLAINTEXT"},
			"listeners", "Gregor serves one client listener for now (PLAINTEXT); PLAINTEXT_HOST would not be served"},
		{"name missing from a set map", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT"},
			"listeners", "listener CONTROLLER has no security protocol: add CONTROLLER:PLAINTEXT to listener.security.protocol.map"},
		{"unknown name with the default map", []string{"listeners=CLIENT://:9092"}, "listeners", "listener CLIENT has no security protocol"},
		{"controller name not among listeners", []string{"controller.listener.names=CONTROLLER"}, "controller.listener.names", "CONTROLLER is not among the listeners (PLAINTEXT)"},
		{"inter-broker name unknown", []string{"inter.broker.listener.name=INTERNAL"}, "inter.broker.listener.name", "INTERNAL is not among the listeners"},
		{"inter-broker name is the controller's", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "inter.broker.listener.name=CONTROLLER"},
			"inter.broker.listener.name", "CONTROLLER is the controller listener"},
		{"both inter-broker keys", []string{"inter.broker.listener.name=PLAINTEXT", "security.inter.broker.protocol=PLAINTEXT"},
			"inter.broker.listener.name", "not both"},
		{"SSL between brokers", []string{"security.inter.broker.protocol=SSL"}, "security.inter.broker.protocol", "SSL between brokers is not supported yet"},
		{"advertised unknown name", []string{"advertised.listeners=PLAINTEXT://a:1,OTHER://b:2"}, "advertised.listeners", "listener OTHER is not among the listeners"},
		{"advertised without the client", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "advertised.listeners=CONTROLLER://a:9093"},
			"advertised.listeners", "must include the client listener PLAINTEXT"},
		{"advertised meta-address v4", []string{"advertised.listeners=0.0.0.0:9092"}, "advertised.listeners", "meta-address 0.0.0.0"},
		{"advertised meta-address v6", []string{"advertised.listeners=PLAINTEXT://[::]:9092"}, "advertised.listeners", "meta-address ::"},
		{"advertised duplicate", []string{"advertised.listeners=a:1,b:2"}, "advertised.listeners", "more than one bare host:port entry"},
		{"port too big", []string{"listeners=:65536"}, "listeners", "port"},
		{"negative port", []string{"listeners=:-1"}, "listeners", "port"},
		{"no port", []string{"listeners=localhost"}, "listeners", "must be NAME://host:port"},
		{"port alone", []string{"listeners=9092"}, "listeners", `listener "9092" must be NAME://host:port`},
		{"empty", []string{"listeners="}, "listeners", "at least one listener"},
		{"unbracketed v6", []string{"listeners=::1:9092"}, "listeners", "host:port"},
		{"bad name", []string{"listeners=PLAIN TEXT://:9092"}, "listeners", "the name must be"},
		{"bad map entry", []string{"listener.security.protocol.map=PLAINTEXT"}, "listener.security.protocol.map", "must be NAME:PROTOCOL"},
		{"bad map protocol", []string{"listener.security.protocol.map=PLAINTEXT:TLS"}, "listener.security.protocol.map", "one of PLAINTEXT, SSL"},
		{"map duplicate", []string{"listener.security.protocol.map=A:PLAINTEXT,a:SSL"}, "listener.security.protocol.map", "listener name A appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(LoadOptions{Sets: tt.sets})
			if !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("err = %v, want ErrInvalidValue", err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tt.key || ce.Origin != "--set" {
				t.Errorf("err = %#v, want key %s from --set", err, tt.key)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestConfigQuorumVoters(t *testing.T) {
	tests := []struct {
		name string
		sets []string
		want map[int32]string
	}{
		{"alone in memory", nil, map[int32]string{1: ""}},
		{"alone on the controller listener", []string{"node.id=4", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093"}, map[int32]string{4: ""}},
		{"voters", []string{"controller.quorum.voters=1@localhost:9093, 2@[::1]:9093,3@10.0.0.3:9093"},
			map[int32]string{1: "localhost:9093", 2: "[::1]:9093", 3: "10.0.0.3:9093"}},
		{"voters win over bootstrap servers", []string{"controller.quorum.voters=1@h1:9093,2@h2:9093", "controller.quorum.bootstrap.servers=h1:9093,h2:9093"},
			map[int32]string{1: "h1:9093", 2: "h2:9093"}},
		{"bootstrap: own advertised controller", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
			"advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093", "controller.quorum.bootstrap.servers=localhost:9093"},
			map[int32]string{1: "localhost:9093"}},
		{"bootstrap: loopback address", []string{"node.id=2", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.bootstrap.servers=127.0.0.1:9093"},
			map[int32]string{2: "localhost:9093"}},
		{"bootstrap: own host name", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://kafka-1:9093", "controller.quorum.bootstrap.servers=KAFKA-1:9093"},
			map[int32]string{1: "kafka-1:9093"}},
		{"bootstrap: advertised host and port", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
			"advertised.listeners=PLAINTEXT://broker:9092,CONTROLLER://broker:29093", "controller.quorum.bootstrap.servers=broker:29093"},
			map[int32]string{1: "broker:29093"}},
		{"bootstrap: ephemeral port is filled in by the node", []string{"listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
			"controller.quorum.bootstrap.servers=127.0.0.1:0"}, map[int32]string{1: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Load(LoadOptions{Sets: tt.sets})
			if err != nil {
				t.Fatal(err)
			}
			got := b.QuorumVoters()
			if !maps.Equal(got, tt.want) {
				t.Errorf("QuorumVoters = %v, want %v", got, tt.want)
			}
			got[99] = "x" // the caller's copy
			if _, ok := b.QuorumVoters()[99]; ok {
				t.Error("QuorumVoters shares its map")
			}
		})
	}

	bad := []struct {
		name string
		sets []string
		key  string
		want string
	}{
		{"voter syntax", []string{"controller.quorum.voters=localhost:9093"}, "controller.quorum.voters", "id@host:port"},
		{"voter id", []string{"controller.quorum.voters=x@h:1"}, "controller.quorum.voters", "non-negative id"},
		{"voter negative id", []string{"controller.quorum.voters=-1@h:1"}, "controller.quorum.voters", "non-negative id"},
		{"voter no host", []string{"controller.quorum.voters=1@:9093"}, "controller.quorum.voters", "id@host:port"},
		{"voter port 0", []string{"controller.quorum.voters=1@h:0"}, "controller.quorum.voters", "id@host:port"},
		{"voter bad port", []string{"controller.quorum.voters=1@h:port"}, "controller.quorum.voters", "id@host:port"},
		{"voter twice", []string{"controller.quorum.voters=1@h:1,1@g:2"}, "controller.quorum.voters", "voter id 1 appears twice"},
		{"bootstrap syntax", []string{"controller.quorum.bootstrap.servers=localhost"}, "controller.quorum.bootstrap.servers", "host:port"},
		{"bootstrap without a controller listener", []string{"controller.quorum.bootstrap.servers=localhost:9093"},
			"controller.quorum.bootstrap.servers", "needs a controller listener in listeners (CONTROLLER://host:port)"},
		{"bootstrap of another node", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.bootstrap.servers=controller-0:9093"},
			"controller.quorum.bootstrap.servers", "list its voters in controller.quorum.voters"},
		{"bootstrap on another port", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.bootstrap.servers=localhost:9094"},
			"controller.quorum.bootstrap.servers", "only this node's own controller listener (:9093)"},
		{"bootstrap of several", []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.bootstrap.servers=localhost:9093,other:9093"},
			"controller.quorum.bootstrap.servers", "controller.quorum.voters"},
		{"broker role alone", []string{"process.roles=broker"}, "process.roles", "set process.roles=broker,controller"},
		{"controller role alone", []string{"process.roles=controller"}, "process.roles", "not supported yet"},
		{"a role twice", []string{"process.roles=broker,broker"}, "process.roles", "set process.roles=broker,controller"},
		{"unknown role", []string{"process.roles=broker,observer"}, "process.roles", "broker, controller"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(LoadOptions{Sets: tt.sets})
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tt.key || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidValue) {
				t.Errorf("err = %v, want key %s and %q", err, tt.key, tt.want)
			}
		})
	}
	if roles := Default().List("process.roles"); !reflect.DeepEqual(roles, []string{"broker", "controller"}) {
		t.Errorf("default process.roles = %q", roles)
	}
	if _, err := Load(LoadOptions{Sets: []string{"process.roles=controller,broker"}}); err != nil {
		t.Errorf("roles in the other order: %v", err)
	}
}
