package web

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The app icons of the manifest (static/icon-192.png, icon-512.png) are
// static/favicon.svg drawn at those sizes by iconImage. This test checks
// that the committed files are what it draws; to draw them again after
// changing the logo, run
//
//	PARLEY_UPDATE_ICONS=1 go test ./internal/web -run TestIcons
func TestIcons(t *testing.T) {
	for _, size := range []int{192, 512} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, iconImage(size)); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join("static", "icon-"+strconv.Itoa(size)+".png")
		if os.Getenv("PARLEY_UPDATE_ICONS") != "" {
			if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := assets.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (draw it: PARLEY_UPDATE_ICONS=1 go test ./internal/web -run TestIcons)", name, err)
		}
		if !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("%s is not the logo as iconImage draws it; draw it again with PARLEY_UPDATE_ICONS=1", name)
		}
		img, err := png.Decode(bytes.NewReader(got))
		if err != nil || img.Bounds().Dx() != size || img.Bounds().Dy() != size {
			t.Errorf("%s: %v, bounds %v", name, err, img.Bounds())
		}
	}
}

// iconImage draws favicon.svg's shapes (its 32×32 view box) at size×size,
// 4×4 samples a pixel: the pale bubble behind, the bubble with the
// indigo gradient in front, and its three white dots.
func iconImage(size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const n = 4
	scale := 32 / float64(size)
	for py := range size {
		for px := range size {
			var r, g, b, a float64
			for sy := range n {
				for sx := range n {
					x := (float64(px) + (float64(sx)+0.5)/n) * scale
					y := (float64(py) + (float64(sy)+0.5)/n) * scale
					if c, ok := logoAt(x, y); ok {
						r, g, b, a = r+float64(c.R), g+float64(c.G), b+float64(c.B), a+1
					}
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{R: uint8(r/a + 0.5), G: uint8(g/a + 0.5), B: uint8(b/a + 0.5),
				A: uint8(a/(n*n)*255 + 0.5)})
		}
	}
	return img
}

// logoAt is the logo's colour at (x, y) of the view box, and whether the
// logo covers it.
func logoAt(x, y float64) (color.NRGBA, bool) {
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	for _, cx := range []float64{8.5, 13, 17.5} {
		if math.Hypot(x-cx, y-18) <= 1.6 {
			return white, true
		}
	}
	// The front bubble: a rounded rectangle (1,9)-(25,27), radius 6, with
	// a tail down to (8,31); its gradient runs corner to corner of its
	// box, (1,9)-(25,31), from #6366f1 to #4338ca.
	if roundedRect(x, y, 1, 9, 25, 27, 6) || triangle(x, y, 13, 27, 8, 31, 8, 27) {
		t := math.Max(0, math.Min(1, ((x-1)/24+(y-9)/22)/2))
		mix := func(a, b uint8) uint8 { return uint8(float64(a) + (float64(b)-float64(a))*t + 0.5) }
		return color.NRGBA{mix(0x63, 0x43), mix(0x66, 0x38), mix(0xf1, 0xca), 0xff}, true
	}
	// The bubble behind: (7,3)-(31,21), radius 6, its tail down to (24,25).
	if roundedRect(x, y, 7, 3, 31, 21, 6) || triangle(x, y, 24, 21, 24, 25, 19, 21) {
		return color.NRGBA{0xa5, 0xb4, 0xfc, 0xff}, true
	}
	return color.NRGBA{}, false
}

func roundedRect(x, y, x0, y0, x1, y1, r float64) bool {
	if x < x0 || x > x1 || y < y0 || y > y1 {
		return false
	}
	cx := math.Max(x0+r, math.Min(x, x1-r))
	cy := math.Max(y0+r, math.Min(y, y1-r))
	return math.Hypot(x-cx, y-cy) <= r
}

func triangle(x, y, ax, ay, bx, by, cx, cy float64) bool {
	side := func(px, py, qx, qy float64) float64 { return (qx-px)*(y-py) - (qy-py)*(x-px) }
	d1, d2, d3 := side(ax, ay, bx, by), side(bx, by, cx, cy), side(cx, cy, ax, ay)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}
