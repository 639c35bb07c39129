package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Date is a calendar day written YYYY-MM-DD.
type Date struct{ time.Time }

const dateLayout = "2006-01-02"

// MarshalJSON writes the day as "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte(`""`), nil
	}
	return json.Marshal(d.Format(dateLayout))
}

// UnmarshalJSON reads "YYYY-MM-DD".
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a date must be written YYYY-MM-DD")
	}
	if s == "" {
		d.Time = time.Time{}
		return nil
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return fmt.Errorf("%q is not a date written YYYY-MM-DD", s)
	}
	d.Time = t
	return nil
}

// Quantity is a Kubernetes resource quantity ("500m", "16Gi", "2"), kept as written.
// YAML numbers are accepted too (cpu: 2).
type Quantity string

// UnmarshalJSON accepts a string or a number and checks it is a valid quantity.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("a quantity must be a string like \"500m\" or \"16Gi\", or a number")
		}
		s = n.String()
	}
	if _, err := resource.ParseQuantity(s); err != nil {
		return fmt.Errorf("%s is not a Kubernetes quantity (like 500m, 2, 16Gi)", strconv.Quote(s))
	}
	*q = Quantity(s)
	return nil
}
