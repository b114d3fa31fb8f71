package testproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// LineProc is a child process driven through its standard streams: the
// test writes command lines to its stdin, and each line it prints on
// stdout or stderr goes to a callback as it arrives.
type LineProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once reaped

	mu    sync.Mutex // guards stdin
	stdin io.WriteCloser

	err error // cmd.Wait's result, valid after done
}

// StartLines starts cmd and calls onLine (from two goroutines, one per
// stream) for each line it prints; log gets the command line and how the
// process exited.
func StartLines(cmd *exec.Cmd, log io.Writer, onLine func(line string, stderr bool)) (*LineProc, error) {
	p := &LineProc{cmd: cmd, done: make(chan struct{})}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "### %s %s\n", time.Now().Format("15:04:05.000"), strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	read := func(r io.Reader, isStderr bool) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			onLine(sc.Text(), isStderr)
		}
		_, _ = io.Copy(io.Discard, r) // after an over-long line: never block the child
	}
	wg.Add(2)
	go read(stdout, false)
	go read(stderr, true)
	go func() {
		wg.Wait()
		p.err = cmd.Wait()
		fmt.Fprintf(log, "### %s exited: %v\n", time.Now().Format("15:04:05.000"), p.err)
		close(p.done)
	}()
	return p, nil
}

// WriteLine sends one line to the process's stdin.
func (p *LineProc) WriteLine(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdin == nil {
		return fmt.Errorf("testproc: stdin of %s closed", p.cmd.Path)
	}
	_, err := io.WriteString(p.stdin, s+"\n")
	return err
}

// CloseStdin closes the process's stdin (EOF: the usual "finish" command).
func (p *LineProc) CloseStdin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
}

// Done is closed once the process has exited and been reaped.
func (p *LineProc) Done() <-chan struct{} { return p.done }

// Err is how the process exited; valid once Done is closed.
func (p *LineProc) Err() error { return p.err }

// Finish ends the process: it closes stdin (EOF, the usual "finish"
// command), sends sig too unless it is nil, and waits up to grace for the
// process to exit before it kills it. It reports whether the process had
// to be killed, and how it exited.
func (p *LineProc) Finish(sig os.Signal, grace time.Duration) (killed bool, err error) {
	p.CloseStdin()
	if sig != nil {
		_ = p.cmd.Process.Signal(sig) // fails only if it has exited
	}
	select {
	case <-p.done:
		return false, p.err
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return true, p.err
}
