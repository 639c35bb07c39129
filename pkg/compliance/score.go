package compliance

import (
	"fmt"
	"math"
)

// Status is a control's verdict in a report.
type Status string

// The statuses a control can have.
const (
	// Pass: automated, and none of its policies has an open finding (or, for a trail
	// control, the trail range verifies intact and holds events).
	Pass Status = "pass"
	// Fail: automated, and at least one resource violates one of its policies (or the
	// trail range is broken or empty).
	Fail Status = "fail"
	// NotApplicable: automated, but nothing it could judge exists: none of its
	// policies is loaded, or the cluster has no object of the kinds they check.
	NotApplicable Status = "not_applicable"
	// Manual: no policy automates it; the guidance says what to check.
	Manual Status = "manual"
)

// Statuses lists every status in display order.
var Statuses = []Status{Fail, Pass, NotApplicable, Manual}

// Label is the status for people: "pass", "fail", "n/a", "manual".
func (s Status) Label() string {
	if s == NotApplicable {
		return "n/a"
	}
	return string(s)
}

// Tally counts controls by status.
type Tally struct {
	Pass          int `json:"pass"`
	Fail          int `json:"fail"`
	NotApplicable int `json:"notApplicable"`
	Manual        int `json:"manual"`
}

// Add counts one control.
func (t *Tally) Add(s Status) {
	switch s {
	case Pass:
		t.Pass++
	case Fail:
		t.Fail++
	case NotApplicable:
		t.NotApplicable++
	case Manual:
		t.Manual++
	default:
		panic(fmt.Sprintf("compliance: unknown status %q", s))
	}
}

// Merge adds another tally's counts.
func (t *Tally) Merge(o Tally) {
	t.Pass += o.Pass
	t.Fail += o.Fail
	t.NotApplicable += o.NotApplicable
	t.Manual += o.Manual
}

// Total is the number of controls counted.
func (t Tally) Total() int { return t.Pass + t.Fail + t.NotApplicable + t.Manual }

// Score is the share of automated, applicable controls that pass, in percent rounded
// to one decimal; nil when there are none to judge. Manual and not-applicable
// controls do not count either way: a score says what the evidence proves, and
// manual controls have no evidence in the report.
func (t Tally) Score() *float64 {
	judged := t.Pass + t.Fail
	if judged == 0 {
		return nil
	}
	s := math.Round(float64(t.Pass)*1000/float64(judged)) / 10
	return &s
}

// FormatScore prints a score for people: "87.5%", or "n/a" for nil.
func FormatScore(s *float64) string {
	if s == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", *s)
}
