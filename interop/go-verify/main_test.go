package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The C2SP signed-note test vector: Ed25519 seed = 32 bytes of 0x07.
const (
	demoName = "attest.example/ledger/demo"
	demoVkey = "attest.example/ledger/demo+d5ff2501+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
	demoText = "attest.example/ledger/demo\n7\nqftfDC7U2ahJnIRTh1J8m83o7tNtmcfOccDAzqA87Pk=\n"
	demoNote = demoText + "\n— attest.example/ledger/demo 1f8lAd2A6n7smmUEwMT6gyQ1ujFHohl4sNVINhqmP0DHpjeGBXvF8ZpiDgIJAbgcCRNgL4Ll38qyEYHweFJi3DFFHws=\n"
)

// signerKey returns a note signer key for name with the given Ed25519 seed byte.
func signerKey(t *testing.T, name string, seedByte byte) (note.Signer, string) {
	t.Helper()
	seed := append([]byte{0x01}, bytes.Repeat([]byte{seedByte}, 32)...)
	// The key hash is checked by NewSigner, so compute it via a throwaway verifier key.
	v := mustVkey(t, name, seedByte)
	hash := strings.Split(v, "+")[1]
	s, err := note.NewSigner("PRIVATE+KEY+" + name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func mustVkey(t *testing.T, name string, seedByte byte) string {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seedByte}, 32)), name)
	if err != nil || skey == "" {
		t.Fatal(err)
	}
	return vkey
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func expectOK(t *testing.T, args ...string) string {
	t.Helper()
	msg, err := run(args)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return msg
}

func expectFail(t *testing.T, want string, args ...string) {
	t.Helper()
	msg, err := run(args)
	if err == nil {
		t.Fatalf("%v: passed (%s), want failure", args, msg)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%v: error %q does not mention %q", args, err, want)
	}
}

func TestC2SPNoteVector(t *testing.T) {
	s, vkey := signerKey(t, demoName, 0x07)
	if vkey != demoVkey {
		t.Fatalf("derived verifier key %s, want %s", vkey, demoVkey)
	}
	signed, err := note.Sign(&note.Note{Text: demoText}, s)
	if err != nil {
		t.Fatal(err)
	}
	if string(signed) != demoNote {
		t.Fatalf("signature differs from the vector:\n%s", signed)
	}
	dir := t.TempDir()
	p := write(t, dir, "demo.note", []byte(demoNote))
	msg := expectOK(t, "checkpoint", "--key", demoVkey, "--note", p)
	if !strings.Contains(msg, "size=7 root=qftfDC7U2ahJnIRTh1J8m83o7tNtmcfOccDAzqA87Pk=") {
		t.Fatalf("unexpected output %q", msg)
	}

	// Wrong key (same name, other seed), bad signature, wrong origin, malformed body.
	expectFail(t, "opening note", "checkpoint", "--key", mustVkey(t, demoName, 0x08), "--note", p)
	bad := strings.Replace(demoNote, "1f8lAd2A", "1f8lAd2B", 1)
	expectFail(t, "invalid signature", "checkpoint", "--key", demoVkey, "--note", write(t, dir, "bad.note", []byte(bad)))
	otherOrigin := strings.Replace(demoText, demoName, "attest.example/other", 1)
	expectFail(t, "is not the key name", "checkpoint", "--key", demoVkey, "--note", write(t, dir, "origin.note", sign(t, otherOrigin, s)[0]))
	for i, body := range []string{
		demoName + "\n07\nqftfDC7U2ahJnIRTh1J8m83o7tNtmcfOccDAzqA87Pk=\n",
		demoName + "\n7\nqftfDC7U2ahJnIRTh1J8m83o7tNtmcfOccDAzqA87Pk\n",
		demoName + "\n7\n",
		demoName + "\n7\nqftfDC7U2ahJnIRTh1J8m83o7tNtmcfOccDAzqA87Pk=\n\nextension\n",
	} {
		signed, err := note.Sign(&note.Note{Text: body}, s)
		if err != nil {
			continue // note.Sign itself refuses some malformed texts
		}
		expectFail(t, "checkpoint", "checkpoint", "--key", demoVkey, "--note", write(t, dir, fmt.Sprint("m", i), signed))
	}
}

// sign returns the note text signed by each signer separately.
func sign(t *testing.T, text string, signers ...note.Signer) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range signers {
		msg, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msg)
	}
	return out
}

func checkpointNote(t *testing.T, s note.Signer, size int64, root tlog.Hash) []byte {
	t.Helper()
	return sign(t, fmt.Sprintf("%s\n%d\n%s\n", s.Name(), size, root), s)[0]
}

func hexHash(t *testing.T, s string) tlog.Hash {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hex hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func proofText(index int64, proof []tlog.Hash, noteMsg []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "c2sp.org/tlog-proof@v1\nextra AAEC\nindex %d\n", index)
	for _, h := range proof {
		b.WriteString(h.String() + "\n")
	}
	b.WriteString("\n")
	b.Write(noteMsg)
	return []byte(b.String())
}

// TestRFC6962Vectors runs the Certificate Transparency reference tree (RFC 6962 test data)
// through the file formats: tree heads, inclusion and consistency proofs computed by
// another implementation must verify here.
func TestRFC6962Vectors(t *testing.T) {
	leaves := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	roots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	dir := t.TempDir()
	var entries []byte
	for _, l := range leaves {
		b, _ := hex.DecodeString(l)
		entries = append(append(entries, b...), '\n')
	}
	ep := write(t, dir, "entries", entries)
	s, vkey := signerKey(t, demoName, 0x07)

	for n := 1; n <= 8; n++ {
		np := write(t, dir, fmt.Sprint(n, ".note"), checkpointNote(t, s, int64(n), hexHash(t, roots[n-1])))
		expectOK(t, "treehash", "--key", vkey, "--note", np, "--entries", ep)
	}
	empty := write(t, dir, "0.note", checkpointNote(t, s, 0, hexHash(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")))
	expectOK(t, "treehash", "--key", vkey, "--note", empty, "--entries", ep)

	note8 := checkpointNote(t, s, 8, hexHash(t, roots[7]))
	inclusion := map[int64][]string{
		0: {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
		5: {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"},
	}
	for index, hs := range inclusion {
		var proof []tlog.Hash
		for _, h := range hs {
			proof = append(proof, hexHash(t, h))
		}
		pp := write(t, dir, fmt.Sprint(index, ".proof"), proofText(index, proof, note8))
		expectOK(t, "inclusion", "--key", vkey, "--proof", pp, "--entries", ep)
		proof[1][0] ^= 1
		pp = write(t, dir, fmt.Sprint(index, ".bad"), proofText(index, proof, note8))
		expectFail(t, "invalid transparency proof", "inclusion", "--key", vkey, "--proof", pp, "--entries", ep)
	}

	consistency := []struct {
		from, to int64
		proof    []string
	}{
		{1, 8, []string{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{6, 8, []string{"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
		{2, 5, []string{"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	}
	for _, c := range consistency {
		oldRoot, newRoot := hexHash(t, roots[c.from-1]), hexHash(t, roots[c.to-1])
		op := write(t, dir, "old.note", checkpointNote(t, s, c.from, oldRoot))
		np := write(t, dir, "new.note", checkpointNote(t, s, c.to, newRoot))
		var proof []tlog.Hash
		for _, h := range c.proof {
			proof = append(proof, hexHash(t, h))
		}
		js, _ := json.Marshal(map[string]interface{}{"from": c.from, "to": c.to, "from_root": oldRoot, "to_root": newRoot, "proof": proof})
		pp := write(t, dir, "cons.json", js)
		expectOK(t, "consistency", "--key", vkey, "--old", op, "--new", np, "--proof", pp)
		expectFail(t, "old checkpoint", "consistency", "--key", vkey, "--old", np, "--new", op, "--proof", pp)
		proof[0][31] ^= 0x80
		js, _ = json.Marshal(map[string]interface{}{"from": c.from, "to": c.to, "from_root": oldRoot, "to_root": newRoot, "proof": proof})
		pp = write(t, dir, "cons.json", js)
		expectFail(t, "consistency", "consistency", "--key", vkey, "--old", op, "--new", np, "--proof", pp)
	}
}

// TestLedgerFlow mirrors run.sh with a tree built by tlog itself: 17 entries, then 57.
func TestLedgerFlow(t *testing.T) {
	dir := t.TempDir()
	s, vkey := signerKey(t, "custos.test/interop", 0x2a)
	var lines [][]byte
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i := 0; i < 60; i++ {
		line := []byte(fmt.Sprintf(`{"kind":"policy.proposed","data":{"n":%d}}`, i))
		hs, err := tlog.StoredHashes(int64(i), line, reader)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		lines = append(lines, line)
	}
	entries := append(bytes.Join(lines, []byte("\n")), '\n')
	ep := write(t, dir, "entries", entries)
	notes := map[int64][]byte{}
	for _, n := range []int64{17, 57} {
		root, err := tlog.TreeHash(n, reader)
		if err != nil {
			t.Fatal(err)
		}
		notes[n] = checkpointNote(t, s, n, root)
	}
	a, b := write(t, dir, "a.note", notes[17]), write(t, dir, "b.note", notes[57])
	expectOK(t, "checkpoint", "--key", vkey, "--note", a)
	expectOK(t, "treehash", "--key", vkey, "--note", a, "--entries", ep)
	expectOK(t, "treehash", "--key", vkey, "--note", b, "--entries", ep)
	expectFail(t, "covers 57", "treehash", "--key", vkey, "--note", b, "--entries", write(t, dir, "short", bytes.Join(lines[:40], []byte("\n"))))
	// Same number of lines, no trailing newline, also fine.
	expectOK(t, "treehash", "--key", vkey, "--note", b, "--entries", write(t, dir, "nonl", bytes.Join(lines[:57], []byte("\n"))))

	for _, c := range []struct{ index, size int64 }{{0, 57}, {16, 57}, {30, 57}, {56, 57}, {5, 17}, {16, 17}} {
		proof, err := tlog.ProveRecord(c.size, c.index, reader)
		if err != nil {
			t.Fatal(err)
		}
		pp := write(t, dir, "p", proofText(c.index, proof, notes[c.size]))
		expectOK(t, "inclusion", "--key", vkey, "--proof", pp, "--entries", ep)
	}
	proof, _ := tlog.ProveRecord(57, 30, reader)
	pp := write(t, dir, "p", proofText(30, proof, notes[57]))
	expectFail(t, "opening note", "inclusion", "--key", demoVkey, "--proof", pp, "--entries", ep)
	expectFail(t, "opening note", "inclusion", "--key", mustVkey(t, "custos.test/interop", 0x2b), "--proof", pp, "--entries", ep)
	tampered := bytes.Replace(entries, []byte(`"n":30}`), []byte(`"n":31}`), 1)
	expectFail(t, "invalid transparency proof", "inclusion", "--key", vkey, "--proof", pp, "--entries", write(t, dir, "t", tampered))
	expectFail(t, "treehash: root", "treehash", "--key", vkey, "--note", b, "--entries", write(t, dir, "t", tampered))
	pp = write(t, dir, "p", proofText(31, proof, notes[57]))
	expectFail(t, "invalid transparency proof", "inclusion", "--key", vkey, "--proof", pp, "--entries", ep)
	pp = write(t, dir, "p", proofText(30, proof[:len(proof)-1], notes[57]))
	expectFail(t, "inclusion", "inclusion", "--key", vkey, "--proof", pp, "--entries", ep)
	expectFail(t, "no blank line", "inclusion", "--key", vkey, "--proof", write(t, dir, "p", []byte("c2sp.org/tlog-proof@v1\nindex 1\n")), "--entries", ep)
	expectFail(t, "bad index", "inclusion", "--key", vkey, "--proof", write(t, dir, "p", append([]byte("c2sp.org/tlog-proof@v1\nindex 01\n\n"), notes[57]...)), "--entries", ep)

	tp, err := tlog.ProveTree(57, 17, reader)
	if err != nil {
		t.Fatal(err)
	}
	oldRoot, _ := tlog.TreeHash(17, reader)
	newRoot, _ := tlog.TreeHash(57, reader)
	js, _ := json.Marshal(map[string]interface{}{"from": 17, "to": 57, "from_root": oldRoot, "to_root": newRoot, "proof": tp})
	cp := write(t, dir, "c.json", js)
	expectOK(t, "consistency", "--key", vkey, "--old", a, "--new", b, "--proof", cp)
	expectFail(t, "required", "consistency", "--key", vkey, "--old", a, "--new", b, "--proof", write(t, dir, "c2.json", []byte(`{"from":17,"to":57}`)))
}

func TestUsage(t *testing.T) {
	expectFail(t, "usage")
	expectFail(t, "unknown subcommand", "frobnicate")
	expectFail(t, "--note is required", "checkpoint", "--key", demoVkey)
	expectFail(t, "flag provided but not defined", "checkpoint", "--bogus")
	expectFail(t, "verifier key", "checkpoint", "--key", "nonsense", "--note", "/dev/null")
}
