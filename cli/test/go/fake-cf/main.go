// fake-cf stands in for the cf CLI in the plugin tests. Standard library only.
//
//	fake-cf golden SCENARIO
//	    prints, as hex, the gob bytes real Go writes for SCENARIO (one fresh process per scenario, so type ids
//	    start at 65 as in a fresh cf CLI or plugin process).
//	fake-cf run -plugin PATH -state STATE.json -record RECORD.json -- ARGS...
//	    does what the cf CLI does to run a plugin: serves CliRpcCmd over net/rpc (gob) on 127.0.0.1:0, runs
//	    `PATH <port> ARGS...` with this process's stdin/stdout/stderr and environment, answers the calls from
//	    STATE.json, and writes every call (and the metadata of SetPluginMetadata) to RECORD.json. Exits with the
//	    plugin's exit code (the real cf CLI turns any non-zero code into 1). SIGINT is left to the plugin, which
//	    shares the process group as under a terminal.
package main

import (
	"bytes"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"fakecf/plugin"
	"fakecf/plugin_models"
)

// Request and Response are net/rpc's own header types (same names and fields).
type Request struct {
	ServiceMethod string
	Seq           uint64
}

type Response struct {
	ServiceMethod string
	Seq           uint64
	Error         string
}

// Nested and Kitchen cover the codec's value kinds beyond what the plugin protocol uses.
type Nested struct {
	A int
	B string
}

type Kitchen struct {
	I     int
	Neg   int
	Big   int64
	Min   int64
	U     uint64
	F     float64
	NegF  float64
	B     bool
	S     string
	Bs    []byte
	L     []string
	M     map[string]int
	N     Nested
	Empty Nested
	P     *Nested
	Nil   *Nested
	Ns    []Nested
	Skip  string
	Ints  []int
}

func sampleMetadata() plugin.PluginMetadata {
	return plugin.PluginMetadata{
		Name:           "pcap",
		Version:        plugin.VersionType{Major: 0, Minor: 1, Build: 0},
		LibraryVersion: plugin.VersionType{Major: 1},
		MinCliVersion:  plugin.VersionType{Major: 6, Minor: 7},
		Commands: []plugin.Command{
			{
				Name:     "pcap",
				Alias:    "tcpdump",
				HelpText: "Capture the traffic of an app's instances",
				UsageDetails: plugin.Usage{
					Usage:   "cf pcap APP [-o FILE]",
					Options: map[string]string{"o": "output file"},
				},
			},
		},
	}
}

func sampleKitchen() Kitchen {
	return Kitchen{
		I: 7, Neg: -129, Big: math.MaxInt64, Min: math.MinInt64, U: math.MaxUint64, F: 1.5, NegF: -0.1,
		B: true, S: "héllo", Bs: []byte{0, 1, 2, 255}, L: []string{"a", "", "c"}, M: map[string]int{"x": 300},
		N: Nested{A: -1, B: "n"}, P: &Nested{A: 2}, Ns: []Nested{{A: 1}, {}, {B: "z"}}, Ints: []int{0, 1, -1, 1000000},
	}
}

func golden(scenario string) error {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	var values []interface{}
	switch scenario {
	case "set-metadata":
		values = []interface{}{Request{ServiceMethod: "CliRpcCmd.SetPluginMetadata"}, sampleMetadata()}
	case "is-logged-in":
		values = []interface{}{Request{ServiceMethod: "CliRpcCmd.IsLoggedIn"}, ""}
	case "two-calls":
		values = []interface{}{Request{ServiceMethod: "CliRpcCmd.ApiEndpoint", Seq: 0}, "",
			Request{ServiceMethod: "CliRpcCmd.AccessToken", Seq: 1}, ""}
	case "reply-bool":
		values = []interface{}{Response{ServiceMethod: "CliRpcCmd.IsLoggedIn"}, true}
	case "reply-false":
		values = []interface{}{Response{ServiceMethod: "CliRpcCmd.IsSSLDisabled", Seq: 3}, false}
	case "reply-string":
		values = []interface{}{Response{ServiceMethod: "CliRpcCmd.ApiEndpoint"}, "https://api.sys.example.com"}
	case "reply-space":
		values = []interface{}{Response{ServiceMethod: "CliRpcCmd.GetCurrentSpace"},
			plugin_models.Space{SpaceFields: plugin_models.SpaceFields{Guid: "2f35885d-guid", Name: "dev"}}}
	case "reply-error":
		values = []interface{}{Response{ServiceMethod: "CliRpcCmd.AccessToken", Error: "token expired"}, struct{}{}}
	case "kitchen":
		values = []interface{}{sampleKitchen(), int64(-5), uint64(300), 2.25, "s", []byte("raw"), []string{"p", "q"}}
	default:
		return fmt.Errorf("unknown scenario %q", scenario)
	}
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	fmt.Println(hex.EncodeToString(buf.Bytes()))
	return nil
}

// State is what the fake cf answers.
type State struct {
	LoggedIn         bool   `json:"loggedIn"`
	APIEndpoint      string `json:"apiEndpoint"`
	SSLDisabled      bool   `json:"sslDisabled"`
	AccessToken      string `json:"accessToken"`
	AccessTokenError string `json:"accessTokenError"`
	SpaceGUID        string `json:"spaceGuid"`
	SpaceName        string `json:"spaceName"`
}

type Call struct {
	Method string `json:"method"`
	Arg    string `json:"arg"`
}

type Record struct {
	Calls    []Call                 `json:"calls"`
	Metadata *plugin.PluginMetadata `json:"metadata"`
	ExitCode int                    `json:"exitCode"`
	Port     int                    `json:"port"`
}

type CliRpcCmd struct {
	state  State
	mu     sync.Mutex
	record Record
}

func (c *CliRpcCmd) note(method, arg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record.Calls = append(c.record.Calls, Call{Method: method, Arg: arg})
}

func (c *CliRpcCmd) SetPluginMetadata(m plugin.PluginMetadata, ret *bool) error {
	c.note("SetPluginMetadata", "")
	c.mu.Lock()
	c.record.Metadata = &m
	c.mu.Unlock()
	*ret = true
	return nil
}

func (c *CliRpcCmd) IsMinCliVersion(v string, ret *bool) error {
	c.note("IsMinCliVersion", v)
	*ret = true
	return nil
}

func (c *CliRpcCmd) IsLoggedIn(a string, ret *bool) error {
	c.note("IsLoggedIn", a)
	*ret = c.state.LoggedIn
	return nil
}

func (c *CliRpcCmd) IsSSLDisabled(a string, ret *bool) error {
	c.note("IsSSLDisabled", a)
	*ret = c.state.SSLDisabled
	return nil
}

func (c *CliRpcCmd) ApiEndpoint(a string, ret *string) error {
	c.note("ApiEndpoint", a)
	*ret = c.state.APIEndpoint
	return nil
}

func (c *CliRpcCmd) ApiVersion(a string, ret *string) error {
	c.note("ApiVersion", a)
	*ret = "3.195.0"
	return nil
}

func (c *CliRpcCmd) AccessToken(a string, ret *string) error {
	c.note("AccessToken", a)
	if c.state.AccessTokenError != "" {
		return errors.New(c.state.AccessTokenError)
	}
	*ret = c.state.AccessToken
	return nil
}

func (c *CliRpcCmd) GetCurrentSpace(a string, ret *plugin_models.Space) error {
	c.note("GetCurrentSpace", a)
	*ret = plugin_models.Space{SpaceFields: plugin_models.SpaceFields{Guid: c.state.SpaceGUID, Name: c.state.SpaceName}}
	return nil
}

func (c *CliRpcCmd) Username(a string, ret *string) error {
	c.note("Username", a)
	*ret = "dev"
	return nil
}

func run(args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	pluginPath := fs.String("plugin", "", "plugin executable")
	statePath := fs.String("state", "", "state JSON")
	recordPath := fs.String("record", "", "record JSON to write")
	_ = fs.Parse(args)
	cmd := &CliRpcCmd{}
	if *statePath != "" {
		data, err := os.ReadFile(*statePath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake-cf:", err)
			return 2
		}
		if err := json.Unmarshal(data, &cmd.state); err != nil {
			fmt.Fprintln(os.Stderr, "fake-cf:", err)
			return 2
		}
	}
	server := rpc.NewServer()
	if err := server.Register(cmd); err != nil {
		fmt.Fprintln(os.Stderr, "fake-cf:", err)
		return 2
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake-cf:", err)
		return 2
	}
	port := listener.Addr().(*net.TCPAddr).Port
	cmd.record.Port = port
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go server.ServeConn(conn)
		}
	}()
	// Like a shell-started cf: Ctrl-C reaches the plugin through the process group; we keep running.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)

	child := exec.Command(*pluginPath, append([]string{fmt.Sprint(port)}, fs.Args()...)...)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	code := 0
	if err := child.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
			if code < 0 {
				code = 128 + int(exitErr.Sys().(syscall.WaitStatus).Signal())
			}
		} else {
			fmt.Fprintln(os.Stderr, "fake-cf:", err)
			code = 2
		}
	}
	listener.Close()
	cmd.mu.Lock()
	cmd.record.ExitCode = code
	if cmd.record.Calls == nil {
		cmd.record.Calls = []Call{}
	}
	data, _ := json.MarshalIndent(cmd.record, "", "  ")
	cmd.mu.Unlock()
	if *recordPath != "" {
		if err := os.WriteFile(*recordPath, data, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "fake-cf:", err)
			return 2
		}
	}
	return code
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fake-cf golden SCENARIO | fake-cf run -plugin PATH [-state F] [-record F] -- ARGS...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "golden":
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: fake-cf golden SCENARIO")
			os.Exit(2)
		}
		if err := golden(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "fake-cf:", err)
			os.Exit(2)
		}
	case "run":
		os.Exit(run(os.Args[2:]))
	default:
		fmt.Fprintln(os.Stderr, "fake-cf: unknown mode", os.Args[1])
		os.Exit(2)
	}
}
