// Command go-verify checks custos ledger artifacts (signed checkpoints, C2SP tlog-proof
// files, consistency proofs and exported entries) with Go's reference implementation in
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog. It shares no code with
// custos, so it is an independent check for CI.
//
// Usage:
//
//	go-verify checkpoint  --key VKEY --note FILE
//	go-verify treehash    --key VKEY --note FILE --entries FILE
//	go-verify inclusion   --key VKEY --proof FILE --entries FILE
//	go-verify consistency --key VKEY --old NOTEFILE --new NOTEFILE --proof FILE
//	go-verify bundle      --key VKEY --bundle FILE
//
// The bundle mode reads a custos evidence bundle (a DSSE envelope over an in-toto Statement
// with the agent-evidence predicate) and checks its checkpoint note, every event's and the
// anchor's leaf hash and inclusion proof (tlog.CheckRecord), and the consistency proof from
// the previous export's checkpoint (tlog.CheckTree) when there is one. The DSSE signature is
// left to securesystemslib (interop/attest).
//
// VKEY is a note verifier key (name+hash+base64key). An entries file holds one ledger
// entry per line: entry i is line i without its trailing newline.
// Every check prints "ok: ..." and exits 0, or prints "FAIL: reason" and exits 1.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func main() {
	msg, err := run(os.Args[1:])
	if err != nil {
		fmt.Println("FAIL: " + err.Error())
		os.Exit(1)
	}
	fmt.Println("ok: " + msg)
}

func run(args []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("usage: go-verify checkpoint|treehash|inclusion|consistency [flags]")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	key := fs.String("key", "", "verifier key")
	notePath := fs.String("note", "", "checkpoint note file")
	entries := fs.String("entries", "", "entries file (one entry per line)")
	proof := fs.String("proof", "", "proof file")
	oldNote := fs.String("old", "", "older checkpoint note file")
	newNote := fs.String("new", "", "newer checkpoint note file")
	bundlePath := fs.String("bundle", "", "evidence bundle (DSSE envelope)")
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%s: %v", cmd, err)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	required := map[string][]string{
		"checkpoint":  {"key", "note"},
		"treehash":    {"key", "note", "entries"},
		"inclusion":   {"key", "proof", "entries"},
		"consistency": {"key", "old", "new", "proof"},
		"bundle":      {"key", "bundle"},
	}
	need, ok := required[cmd]
	if !ok {
		return "", fmt.Errorf("unknown subcommand %q", cmd)
	}
	for _, name := range need {
		if fs.Lookup(name).Value.String() == "" {
			return "", fmt.Errorf("%s: --%s is required", cmd, name)
		}
	}
	switch cmd {
	case "checkpoint":
		return checkCheckpoint(*key, *notePath)
	case "treehash":
		return checkTreeHash(*key, *notePath, *entries)
	case "inclusion":
		return checkInclusion(*key, *proof, *entries)
	case "bundle":
		return checkBundle(*key, *bundlePath)
	default:
		return checkConsistency(*key, *oldNote, *newNote, *proof)
	}
}

// checkpoint is an opened C2SP checkpoint (c2sp.org/tlog-checkpoint).
type checkpoint struct {
	origin string
	tree   tlog.Tree
}

func (c checkpoint) String() string {
	return fmt.Sprintf("%s size=%d root=%s", c.origin, c.tree.N, c.tree.Hash)
}

// openCheckpoint verifies the signed note msg with vkey and parses its checkpoint body.
func openCheckpoint(vkey string, msg []byte) (checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return checkpoint{}, fmt.Errorf("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return checkpoint{}, fmt.Errorf("opening note: %v", err)
	}
	return parseCheckpoint(n.Text, v.Name())
}

// parseCheckpoint parses "origin\nsize\nroot\n[extension lines]". tlog.ParseTree only
// accepts the go.sum database's fixed origin line "go.sum database tree", so the origin
// line is checked here (it must be the key name) and the size and root lines are parsed
// by tlog.ParseTree after swapping in that origin line.
func parseCheckpoint(text, keyName string) (checkpoint, error) {
	origin, rest, ok := strings.Cut(text, "\n")
	if !ok {
		return checkpoint{}, errors.New("checkpoint: no origin line")
	}
	if origin != keyName {
		return checkpoint{}, fmt.Errorf("checkpoint: origin %q is not the key name %q", origin, keyName)
	}
	if lines := strings.Split(strings.TrimSuffix(rest, "\n"), "\n"); len(lines) > 2 {
		for _, ext := range lines[2:] {
			if ext == "" {
				return checkpoint{}, errors.New("checkpoint: empty extension line")
			}
		}
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + rest))
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: %v", err)
	}
	return checkpoint{origin, tree}, nil
}

func readCheckpoint(vkey, path string) (checkpoint, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return checkpoint{}, err
	}
	c, err := openCheckpoint(vkey, msg)
	if err != nil {
		return checkpoint{}, fmt.Errorf("%s: %v", path, err)
	}
	return c, nil
}

// readEntries returns the lines of an entries file, each without its trailing newline.
func readEntries(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, nil
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")), nil
}

func checkCheckpoint(vkey, notePath string) (string, error) {
	c, err := readCheckpoint(vkey, notePath)
	if err != nil {
		return "", err
	}
	return "checkpoint " + c.String(), nil
}

func checkTreeHash(vkey, notePath, entriesPath string) (string, error) {
	c, err := readCheckpoint(vkey, notePath)
	if err != nil {
		return "", err
	}
	entries, err := readEntries(entriesPath)
	if err != nil {
		return "", err
	}
	n := c.tree.N
	if int64(len(entries)) < n {
		return "", fmt.Errorf("treehash: %s has %d entries, the checkpoint covers %d", entriesPath, len(entries), n)
	}
	// In-memory storage as tlog's docs describe: for each record in order, append the
	// hashes StoredHashes says to store; a HashReader serves them back by index.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("hash index %d not stored", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i := int64(0); i < n; i++ {
		hashes, err := tlog.StoredHashes(i, entries[i], reader)
		if err != nil {
			return "", fmt.Errorf("treehash: %v", err)
		}
		stored = append(stored, hashes...)
	}
	root, err := tlog.TreeHash(n, reader)
	if err != nil {
		return "", fmt.Errorf("treehash: %v", err)
	}
	if n == 0 {
		// tlog defines the empty tree's hash as all zeros; RFC 6962 (and custos) use SHA-256("").
		root = sha256.Sum256(nil)
	}
	if root != c.tree.Hash {
		return "", fmt.Errorf("treehash: root of the first %d entries is %s, the checkpoint says %s", n, root, c.tree.Hash)
	}
	return fmt.Sprintf("treehash of %d entries matches checkpoint root %s", n, root), nil
}

// proofFile is a parsed C2SP tlog-proof file (c2sp.org/tlog-proof@v1).
type proofFile struct {
	index int64
	proof tlog.RecordProof
	note  []byte
}

func parseProofFile(data []byte) (proofFile, error) {
	head, noteText, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return proofFile{}, errors.New("no blank line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		return proofFile{}, fmt.Errorf("first line is %q, not c2sp.org/tlog-proof@v1", lines[0])
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		lines = lines[1:] // opaque and unauthenticated: ignored
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return proofFile{}, errors.New("missing index line")
	}
	s := strings.TrimPrefix(lines[0], "index ")
	index, err := strconv.ParseInt(s, 10, 64)
	if err != nil || index < 0 || s != strconv.FormatInt(index, 10) {
		return proofFile{}, fmt.Errorf("bad index %q", s)
	}
	var proof tlog.RecordProof
	for _, line := range lines[1:] {
		h, err := tlog.ParseHash(line)
		if err != nil {
			return proofFile{}, fmt.Errorf("bad proof hash %q", line)
		}
		proof = append(proof, h)
	}
	return proofFile{index, proof, noteText}, nil
}

func checkInclusion(vkey, proofPath, entriesPath string) (string, error) {
	data, err := os.ReadFile(proofPath)
	if err != nil {
		return "", err
	}
	p, err := parseProofFile(data)
	if err != nil {
		return "", fmt.Errorf("%s: %v", proofPath, err)
	}
	c, err := openCheckpoint(vkey, p.note)
	if err != nil {
		return "", fmt.Errorf("%s: %v", proofPath, err)
	}
	entries, err := readEntries(entriesPath)
	if err != nil {
		return "", err
	}
	if p.index >= int64(len(entries)) {
		return "", fmt.Errorf("inclusion: %s has no entry %d", entriesPath, p.index)
	}
	leaf := tlog.RecordHash(entries[p.index])
	if err := tlog.CheckRecord(p.proof, c.tree.N, c.tree.Hash, p.index, leaf); err != nil {
		return "", fmt.Errorf("inclusion: entry %d in tree %d: %v", p.index, c.tree.N, err)
	}
	return fmt.Sprintf("inclusion of entry %d (leaf %s) in checkpoint %s", p.index, leaf, c), nil
}

// consistencyFile is the JSON printed by `custos --json ledger consistency`.
type consistencyFile struct {
	From     *int64         `json:"from"`
	To       *int64         `json:"to"`
	FromRoot *tlog.Hash     `json:"from_root"`
	ToRoot   *tlog.Hash     `json:"to_root"`
	Proof    tlog.TreeProof `json:"proof"`
}

func checkConsistency(vkey, oldPath, newPath, proofPath string) (string, error) {
	oldC, err := readCheckpoint(vkey, oldPath)
	if err != nil {
		return "", err
	}
	newC, err := readCheckpoint(vkey, newPath)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(proofPath)
	if err != nil {
		return "", err
	}
	var f consistencyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return "", fmt.Errorf("%s: %v", proofPath, err)
	}
	if f.From == nil || f.To == nil || f.FromRoot == nil || f.ToRoot == nil || f.Proof == nil {
		return "", fmt.Errorf("%s: from, to, from_root, to_root and proof are all required", proofPath)
	}
	if *f.From != oldC.tree.N || *f.FromRoot != oldC.tree.Hash {
		return "", fmt.Errorf("consistency: proof is from %d/%s, old checkpoint is %d/%s", *f.From, f.FromRoot, oldC.tree.N, oldC.tree.Hash)
	}
	if *f.To != newC.tree.N || *f.ToRoot != newC.tree.Hash {
		return "", fmt.Errorf("consistency: proof is to %d/%s, new checkpoint is %d/%s", *f.To, f.ToRoot, newC.tree.N, newC.tree.Hash)
	}
	if err := tlog.CheckTree(f.Proof, newC.tree.N, newC.tree.Hash, oldC.tree.N, oldC.tree.Hash); err != nil {
		return "", fmt.Errorf("consistency %d -> %d: %v", oldC.tree.N, newC.tree.N, err)
	}
	return fmt.Sprintf("consistency %d -> %d (%d proof hashes)", oldC.tree.N, newC.tree.N, len(f.Proof)), nil
}

// provenEntry is one entry of a bundle's evidence; the bundle's multiproof proves it.
type provenEntry struct {
	Index *int64  `json:"index"`
	Entry *string `json:"entry"`
}

// bundleStatement is the part of a custos evidence statement this check reads.
type bundleStatement struct {
	PredicateType string `json:"predicateType"`
	Predicate     struct {
		Evidence struct {
			Checkpoint string        `json:"checkpoint"`
			Events     []provenEntry `json:"events"`
			Anchor     provenEntry   `json:"anchor"`
			Proof      []tlog.Hash   `json:"proof"`
			Previous   *struct {
				Checkpoint  string         `json:"checkpoint"`
				Consistency tlog.TreeProof `json:"consistency"`
			} `json:"previous"`
		} `json:"evidence"`
	} `json:"predicate"`
}

func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("payload is not base64")
}

type provenLeaf struct {
	index int64
	hash  tlog.Hash
}

// multiproofWalk recovers every proven leaf's RFC 6962 audit path from a custos multiproof:
// the hashes of the maximal subtrees holding none of the leaves, in the order a left-to-right
// walk of the tree meets them. The paths are then checked with tlog.CheckRecord, so this
// program trusts nothing of custos's own proof code.
type multiproofWalk struct {
	leaves []provenLeaf
	nodes  []tlog.Hash
	next   int
	paths  []tlog.RecordProof
}

func splitPoint(n int64) int64 {
	k := int64(1)
	for k<<1 < n {
		k <<= 1
	}
	return k
}

func (w *multiproofWalk) hash(lo, hi int64, first, count int) (tlog.Hash, error) {
	if count == 0 {
		if w.next >= len(w.nodes) {
			return tlog.Hash{}, errors.New("the multiproof is too short")
		}
		h := w.nodes[w.next]
		w.next++
		return h, nil
	}
	if hi-lo == 1 {
		return w.leaves[first].hash, nil
	}
	mid := lo + splitPoint(hi-lo)
	left := 0
	for left < count && w.leaves[first+left].index < mid {
		left++
	}
	l, err := w.hash(lo, mid, first, left)
	if err != nil {
		return tlog.Hash{}, err
	}
	r, err := w.hash(mid, hi, first+left, count-left)
	if err != nil {
		return tlog.Hash{}, err
	}
	for i := first; i < first+count; i++ {
		if i < first+left {
			w.paths[i] = append(w.paths[i], r)
		} else {
			w.paths[i] = append(w.paths[i], l)
		}
	}
	return tlog.NodeHash(l, r), nil
}

// checkMultiproof checks every entry (events, then the anchor) with its recovered audit path.
func checkMultiproof(entries []provenEntry, nodes []tlog.Hash, c checkpoint) error {
	leaves := make([]provenLeaf, 0, len(entries))
	for i, p := range entries {
		if p.Index == nil || p.Entry == nil {
			return fmt.Errorf("entry %d: index and entry are required", i)
		}
		if *p.Index < 0 || *p.Index >= c.tree.N {
			return fmt.Errorf("entry %d: index %d is outside tree %d", i, *p.Index, c.tree.N)
		}
		if len(leaves) > 0 && *p.Index <= leaves[len(leaves)-1].index {
			return fmt.Errorf("entry %d: index %d is not in ascending order", i, *p.Index)
		}
		leaves = append(leaves, provenLeaf{*p.Index, tlog.RecordHash([]byte(*p.Entry))})
	}
	if len(leaves) == 0 {
		return errors.New("nothing to prove")
	}
	w := &multiproofWalk{leaves: leaves, nodes: nodes, paths: make([]tlog.RecordProof, len(leaves))}
	if _, err := w.hash(0, c.tree.N, 0, len(leaves)); err != nil {
		return err
	}
	if w.next != len(nodes) {
		return fmt.Errorf("the multiproof is too long: %d of %d hashes used", w.next, len(nodes))
	}
	for i, l := range leaves {
		if err := tlog.CheckRecord(w.paths[i], c.tree.N, c.tree.Hash, l.index, l.hash); err != nil {
			return fmt.Errorf("index %d in tree %d: %v", l.index, c.tree.N, err)
		}
	}
	return nil
}

func checkBundle(vkey, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var env struct {
		Payload     string `json:"payload"`
		PayloadType string `json:"payloadType"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return "", fmt.Errorf("%s: not a DSSE envelope: %v", path, err)
	}
	payload, err := decodeB64(env.Payload)
	if err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	var st bundleStatement
	if err := json.Unmarshal(payload, &st); err != nil {
		return "", fmt.Errorf("%s: statement: %v", path, err)
	}
	ev := st.Predicate.Evidence
	c, err := openCheckpoint(vkey, []byte(ev.Checkpoint))
	if err != nil {
		return "", fmt.Errorf("bundle checkpoint: %v", err)
	}
	if err := checkMultiproof(append(ev.Events, ev.Anchor), ev.Proof, c); err != nil {
		return "", fmt.Errorf("inclusion: %v", err)
	}
	msg := fmt.Sprintf("bundle: %d events and the anchor proven in checkpoint %s", len(ev.Events), c)
	if ev.Previous != nil {
		old, err := openCheckpoint(vkey, []byte(ev.Previous.Checkpoint))
		if err != nil {
			return "", fmt.Errorf("previous checkpoint: %v", err)
		}
		if err := tlog.CheckTree(ev.Previous.Consistency, c.tree.N, c.tree.Hash, old.tree.N, old.tree.Hash); err != nil {
			return "", fmt.Errorf("consistency %d -> %d: %v", old.tree.N, c.tree.N, err)
		}
		msg += fmt.Sprintf(", consistent with the previous export's tree %d", old.tree.N)
	}
	return msg, nil
}
