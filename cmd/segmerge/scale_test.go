package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Scale out over processes: a group of consumer processes on one topic, one
// SIGKILLed mid-run and a new one joining, and a read_committed read of the
// output topic must hold every batch exactly once (in ascending order within
// each of its partitions, which verify checks without --unordered). Both
// layouts: the batch layout directly, and the segment layout through the
// repartition stage, whose group gets the same treatment while the merge
// stage runs beside it.
//
// The processes follow the topic as a producer writes it, so the kill lands
// mid-run; when the group's commits reach the end of its input, the
// survivors are stopped with Ctrl+C. The killed process's open transaction
// ends when the broker aborts it (--transaction-timeout), which the test
// waits for before reading the output.
func TestScaleOutAcrossProcesses(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	t.Run("batch layout", func(t *testing.T) { scaleRun(t, false) })
	t.Run("segment layout through the repartition stage", func(t *testing.T) { scaleRun(t, true) })
}

func scaleRun(t *testing.T, repartition bool) {
	const total = 3000
	dir := t.TempDir()
	listen := freeListen(t)
	br := startBroker(t, listen, filepath.Join(dir, "data"))
	adm := admin(t, listen)
	input := filepath.Join(dir, "input.jsonl")

	layout := "batch"
	if repartition {
		layout = "segment"
	}
	prod := start(t, nil, "produce", "-b", listen, "--layout", layout, "--batches", fmt.Sprint(total),
		"--interval", "1ms", "--input-log", input, "--seed", "5", "-q")

	common := []string{"-b", listen, "--from-beginning", "--commit-interval", "50ms", "--session-timeout", "6s", "--transaction-timeout", "10s"}
	if os.Getenv("SEGMERGE_TEST_LOG") == "" {
		common = append(common, "-q")
	}
	stage1 := func() *proc {
		return start(t, nil, append([]string{"consume", "--stage", "repartition", "-g", "stage1"}, common...)...)
	}
	mergeTopic := "segment-topic"
	if repartition {
		mergeTopic = "segment-topic.by-batch"
	}
	var files []string
	merge := func() *proc {
		out := filepath.Join(dir, fmt.Sprintf("out%d.jsonl", len(files)))
		files = append(files, out)
		return start(t, nil, append([]string{"consume", "--layout", "batch", "-t", mergeTopic, "-g", "merge",
			"--output-topic", "merged", "--out-file", out}, common...)...)
	}

	var firsts, merges []*proc
	// Each process starts once the group has settled with the ones
	// before it: the embedded broker (kfake) can drop a JoinGroup or
	// SyncGroup answer when several members form a group at the same
	// instant under load, which stalls the group for a minute.
	for range 3 {
		if repartition {
			firsts = append(firsts, stage1())
			stable(t, adm, "stage1", len(firsts), firsts...)
		}
		merges = append(merges, merge())
		stable(t, adm, "merge", len(merges), merges...)
	}
	all := func() []*proc { return append(append([]*proc{prod}, firsts...), merges...) }

	// Mid-run: the first merge process has written some batches, the
	// producer is still writing. Kill it, and in the repartition run a
	// first-stage process too; a new process joins each group.
	waitLines(t, files[0], 150, all()...)
	merges[0].kill(t)
	if repartition {
		firsts[0].kill(t)
		firsts = append(firsts[1:], stage1())
	}
	merges = append(merges[1:], merge())
	if running(prod) {
		t.Log("killed mid-run: the producer was still writing")
	}
	if code := prod.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("produce: exit %d\n%s", code, prod.stderr.String())
	}

	// Ctrl+C to a stage's processes at once, as an operator stopping a
	// deployment would; each must stop cleanly.
	stop := func(ps []*proc) {
		for _, p := range ps {
			p.cmd.Process.Signal(syscall.SIGINT)
		}
		for _, p := range ps {
			if code := p.wait(t, 30*time.Second); code != 0 {
				t.Fatalf("%v after Ctrl+C: exit %d\n%s", p.cmd.Args[1:], code, p.stderr.String())
			}
		}
	}
	if repartition {
		caughtUp(t, adm, "stage1", "segment-topic", all()...)
		stop(firsts)
		settled(t, adm, mergeTopic) // the killed first-stage process's transaction is aborted
	}
	caughtUp(t, adm, "merge", mergeTopic, all()...)
	stop(merges)
	settled(t, adm, "merged")

	ver := start(t, nil, "verify", "--input-log", input, "-b", listen, "--output-topic", "merged")
	if code := ver.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("verify of the output topic (read_committed): exit %d\n%s%s", code, ver.stderr.String(), logs(all()...))
	}
	// The files are at least once across processes: together they hold
	// every batch.
	if missing := notInFiles(t, total, files); len(missing) > 0 {
		t.Fatalf("%d batches in no process's file, first %v", len(missing), missing[:min(5, len(missing))])
	}
	if os.Getenv("SEGMERGE_TEST_LOG") != "" {
		t.Log(logs(all()...))
	}
	br.interrupt(t)
}

// admin returns an admin client for the brokers at listen.
func admin(t *testing.T, listen string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(listen, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func running(p *proc) bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// caughtUp waits until group's commits reach topic's end offsets on every
// partition: every record read, merged (or forwarded) and committed.
func caughtUp(t *testing.T, adm *kadm.Client, group, topic string, who ...*proc) {
	t.Helper()
	eventually(t, 90*time.Second, fmt.Sprintf("group %s to commit the end of %s", group, topic), who, func(ctx context.Context) (bool, string) {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		commits, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false, err.Error()
		}
		behind := 0
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := commits.Lookup(topic, o.Partition)
			if o.Offset > 0 && (!ok || c.At < o.Offset) {
				behind++
			}
		})
		return behind == 0, fmt.Sprintf("%d partitions behind", behind)
	})
}

// stable waits until group is stable with n members.
func stable(t *testing.T, adm *kadm.Client, group string, n int, who ...*proc) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("group %s to be stable with %d members", group, n), who, func(ctx context.Context) (bool, string) {
		dg, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return false, err.Error()
		}
		g := dg[group]
		return g.State == "Stable" && len(g.Members) == n, fmt.Sprintf("%s with %d members", g.State, len(g.Members))
	})
}

// settled waits until no transaction is open on topic: its last stable
// offsets equal its end offsets, so a read_committed reader can read all.
func settled(t *testing.T, adm *kadm.Client, topic string) {
	t.Helper()
	eventually(t, 60*time.Second, "open transactions on "+topic+" to end", nil, func(ctx context.Context) (bool, string) {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		open := 0
		ends.Each(func(o kadm.ListedOffset) {
			if s, ok := stable.Lookup(topic, o.Partition); !ok || s.Offset < o.Offset {
				open++
			}
		})
		return open == 0, fmt.Sprintf("%d partitions with an open transaction", open)
	})
}

// eventually polls cond every 100ms until it holds, failing after d with
// its last word and the logs of who.
func eventually(t *testing.T, d time.Duration, what string, who []*proc, cond func(context.Context) (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ok, msg := cond(ctx)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %s%s", d, what, msg, logs(who...))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func logs(ps ...*proc) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n--- %v:\n%s", p.cmd.Args[1:], p.stderr.String())
	}
	return b.String()
}

// notInFiles returns the batch ids below total that no file holds.
func notInFiles(t *testing.T, total int64, files []string) []int64 {
	t.Helper()
	seen := map[int64]bool{}
	for _, path := range files {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// A SIGKILLed writer can leave a torn last line, with no newline.
		lines := strings.Split(string(body), "\n")
		for _, line := range lines[:len(lines)-1] {
			var b struct {
				ID int64 `json:"batch_id"`
			}
			if err := json.Unmarshal([]byte(line), &b); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			seen[b.ID] = true
		}
	}
	var missing []int64
	for id := range total {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	return missing
}
