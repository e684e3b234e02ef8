package digest

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sync"

	"codeberg.org/go-fonts/liberation/liberationsansregular"
	"golang.org/x/image/font/opentype"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The chart is drawn with gonum/plot's canvas (vg, vgimg) rather than its plot package: the
// plot package parses twelve embedded fonts when the program starts, some 4 MB that `accessbot
// serve` would carry for a picture drawn once a week. Here the one font the chart uses
// (Liberation Sans, embedded, nothing fetched) is parsed the first time a chart is drawn.

// ChartResources is how many resources the chart shows on their own; the rest are "other".
const ChartResources = 8

// ChartFile is the file name a digest's chart is uploaded as.
func (d Digest) ChartFile() string {
	return "access-digest-" + d.Since.Format("2006-01-02") + ".png"
}

// ChartTitle is the chart's caption.
func (d Digest) ChartTitle() string {
	return "Grants per day by resource, " + dateRange(d.Since, d.Until)
}

// palette is colour-blind friendly (Okabe–Ito), with grey for "other".
var palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xb2, 0xff}, color.RGBA{0xe6, 0x9f, 0x00, 0xff},
	color.RGBA{0x00, 0x9e, 0x73, 0xff}, color.RGBA{0xcc, 0x79, 0xa7, 0xff},
	color.RGBA{0x56, 0xb4, 0xe9, 0xff}, color.RGBA{0xd5, 0x5e, 0x00, 0xff},
	color.RGBA{0xf0, 0xe4, 0x42, 0xff}, color.RGBA{0x00, 0x00, 0x00, 0xff},
}

var (
	otherColor = color.RGBA{0x99, 0x99, 0x99, 0xff}
	inkColor   = color.RGBA{0x33, 0x33, 0x33, 0xff}
	gridColor  = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

var (
	fontOnce  sync.Once
	fontCache *font.Cache
	fontErr   error
)

// sans returns a text style in Liberation Sans, parsed once.
func sans(size vg.Length, align text.XAlignment, valign text.YAlignment) (draw.TextStyle, error) {
	fontOnce.Do(func() {
		var f *opentype.Font
		if f, fontErr = opentype.Parse(liberationsansregular.TTF); fontErr == nil {
			fontCache = font.NewCache(font.Collection{{Font: font.Font{Typeface: "Liberation", Variant: "Sans"}, Face: f}})
		}
	})
	if fontErr != nil {
		return draw.TextStyle{}, fmt.Errorf("load the chart's font: %w", fontErr)
	}
	return draw.TextStyle{
		Color:   inkColor,
		Font:    font.Font{Typeface: "Liberation", Variant: "Sans", Size: size},
		XAlign:  align,
		YAlign:  valign,
		Handler: &text.Plain{Fonts: fontCache},
	}, nil
}

// series is one resource's bars.
type series struct {
	name   string
	values []int
	color  color.Color
}

// chartSeries returns the resources to draw, most grants first, the rest summed as "other".
func (d Digest) chartSeries() []series {
	g := d.Grants
	var list []series
	var other []int
	for i, c := range g.ByResource {
		per := g.PerDay[c.Name]
		if per == nil {
			continue
		}
		if i < ChartResources {
			list = append(list, series{name: c.Name, values: per, color: palette[i%len(palette)]})
			continue
		}
		if other == nil {
			other = make([]int, len(g.Days))
		}
		for j, n := range per {
			other[j] += n
		}
	}
	if other != nil {
		list = append(list, series{name: "other", values: other, color: otherColor})
	}
	return list
}

// Chart draws the grants that became active each day of the window, stacked by resource, as a
// PNG (960×480). It returns nil when the window has no grant: there is nothing to draw.
func Chart(d Digest) ([]byte, error) {
	g := d.Grants
	if g.Activated == 0 || len(g.Days) == 0 {
		return nil, nil
	}
	list := d.chartSeries()
	title, err := sans(14, text.XCenter, text.YTop)
	if err != nil {
		return nil, err
	}
	label, _ := sans(10, text.XCenter, text.YTop)
	tick, _ := sans(10, text.XRight, text.YCenter)
	legend, _ := sans(11, text.XLeft, text.YCenter)

	const w, h = 10 * vg.Inch, 5 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96))
	c := draw.New(img)
	c.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
	c.FillText(title, vg.Point{X: w / 2, Y: h - 10}, d.ChartTitle())

	// The plot area, and room for the day labels, the counts and the legend.
	x0, x1, y0, y1 := vg.Length(46), w-vg.Length(160), vg.Length(34), h-vg.Length(42)
	most := 1
	for j := range g.Days {
		sum := 0
		for _, s := range list {
			sum += s.values[j]
		}
		most = max(most, sum)
	}
	step := niceStep(most)
	top := int(math.Ceil(float64(most)/float64(step))) * step
	y := func(n int) vg.Length { return y0 + (y1-y0)*vg.Length(n)/vg.Length(top) }
	grid := draw.LineStyle{Color: gridColor, Width: 0.5}
	for n := 0; n <= top; n += step {
		c.StrokeLine2(grid, x0, y(n), x1, y(n))
		c.FillText(tick, vg.Point{X: x0 - 6, Y: y(n)}, fmt.Sprint(n))
	}
	c.StrokeLine2(draw.LineStyle{Color: inkColor, Width: 0.8}, x0, y0, x1, y0)

	slot := (x1 - x0) / vg.Length(len(g.Days))
	bar := slot * 0.6
	for j, day := range g.Days {
		left := x0 + slot*vg.Length(j) + (slot-bar)/2
		base := 0
		for _, s := range list {
			n := s.values[j]
			if n == 0 {
				continue
			}
			c.FillPolygon(s.color, []vg.Point{
				{X: left, Y: y(base)}, {X: left + bar, Y: y(base)},
				{X: left + bar, Y: y(base + n)}, {X: left, Y: y(base + n)},
			})
			base += n
		}
		c.FillText(label, vg.Point{X: x0 + slot*vg.Length(j) + slot/2, Y: y0 - 6}, day.Format("Mon 2"))
	}

	// The legend, top right, in the order the bars stack from the bottom.
	lx, ly := x1+vg.Length(18), y1
	for _, s := range list {
		c.FillPolygon(s.color, []vg.Point{{X: lx, Y: ly - 5}, {X: lx + 10, Y: ly - 5}, {X: lx + 10, Y: ly + 5}, {X: lx, Y: ly + 5}})
		c.FillText(legend, vg.Point{X: lx + 16, Y: ly}, s.name)
		ly -= 18
	}

	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode chart: %w", err)
	}
	return buf.Bytes(), nil
}

// niceStep is the step of the count axis: 1, 2 or 5 times a power of ten, for at most 6 steps.
func niceStep(most int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if most <= 6*m*p {
				return m * p
			}
		}
	}
}
