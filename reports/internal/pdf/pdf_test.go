package pdf

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWrapKeepsLinesWithinTheWidth(t *testing.T) {
	text := "Containers drop all capabilities and add back at most NET_BIND_SERVICE sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
	lines := Wrap(Helvetica, 9, text, 120)
	if len(lines) < 3 {
		t.Fatalf("expected several lines, got %q", lines)
	}
	for _, l := range lines {
		if w := Width(Helvetica, 9, l); w > 120 {
			t.Errorf("line %q is %.1f wide", l, w)
		}
	}
	if got := strings.Join(lines, ""); strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(text, " ", "") {
		t.Errorf("wrapping lost text: %q", got)
	}
}

func TestEncodeMapsWhatWinAnsiCanShow(t *testing.T) {
	got := Encode("Art. 5(1)(f) – “é” ≤ 漢")
	want := []byte("Art. 5(1)(f) \x96 \x93\xe9\x94 <= ?")
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDocumentStructure(t *testing.T) {
	d := New(A4Width, A4Height)
	d.AddPage()
	d.Current().Text(50, 50, HelveticaBold, 14, Black, "Hello (world)")
	d.AddPage()
	d.Current().Rect(10, 10, 100, 20, RGB(200, 0, 0))
	var buf bytes.Buffer
	if _, err := d.WriteTo(&buf, Info{Title: "T", Created: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"%PDF-1.4", "/Count 2", "/BaseFont /Helvetica-Bold", "startxref", "%%EOF"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	var again bytes.Buffer
	d.WriteTo(&again, Info{Title: "T", Created: time.Unix(0, 0)})
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("the same document wrote different bytes")
	}
}
