package promstore

// Just enough protobuf and snappy to build remote write/read requests and
// decode answers in tests (the module has no dependencies).

import (
	"encoding/binary"
	"errors"
	"math"
)

type pb []byte

func (b pb) varint(field int, v uint64) pb {
	b = binary.AppendUvarint(b, uint64(field<<3))
	return binary.AppendUvarint(b, v)
}

func (b pb) bytes(field int, v []byte) pb {
	b = binary.AppendUvarint(b, uint64(field<<3|2))
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func (b pb) fixed64(field int, v uint64) pb {
	b = binary.AppendUvarint(b, uint64(field<<3|1))
	return binary.LittleEndian.AppendUint64(b, v)
}

// encodeWrite builds a prometheus.WriteRequest.
func encodeWrite(series []Series) []byte {
	var req pb
	for _, s := range series {
		var ts pb
		for _, l := range s.Labels {
			ts = ts.bytes(1, pb(nil).bytes(1, []byte(l.Name)).bytes(2, []byte(l.Value)))
		}
		for _, smp := range s.Samples {
			ts = ts.bytes(2, pb(nil).fixed64(1, math.Float64bits(smp.V)).varint(2, uint64(smp.T)))
		}
		req = req.bytes(1, ts)
	}
	return req
}

// encodeRead builds a prometheus.ReadRequest with one query.
func encodeRead(mint, maxt int64, ms []Matcher, types ...uint64) []byte {
	q := pb(nil).varint(1, uint64(mint)).varint(2, uint64(maxt))
	for _, m := range ms {
		q = q.bytes(3, pb(nil).varint(1, uint64(m.Type)).bytes(2, []byte(m.Name)).bytes(3, []byte(m.Value)))
	}
	req := pb(nil).bytes(1, q)
	for _, t := range types {
		req = req.varint(2, t)
	}
	return req
}

// snappyEncode writes a valid snappy block of literals only.
func snappyEncode(src []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(src)))
	for len(src) > 0 {
		n := len(src)
		if n > 65536 {
			n = 65536
		}
		switch {
		case n <= 60:
			out = append(out, byte(n-1)<<2)
		case n <= 256:
			out = append(out, 60<<2, byte(n-1))
		default:
			out = append(out, 61<<2, byte(n-1), byte((n-1)>>8))
		}
		out = append(out, src[:n]...)
		src = src[n:]
	}
	return out
}

func snappyDecode(src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 {
		return nil, errors.New("snappy: bad header")
	}
	src = src[k:]
	out := make([]byte, 0, n)
	for len(src) > 0 {
		tag := src[0]
		var length, offset int
		switch tag & 3 {
		case 0:
			length = int(tag>>2) + 1
			src = src[1:]
			if length > 60 {
				nb := length - 60
				length = 0
				for i := 0; i < nb; i++ {
					length |= int(src[i]) << (8 * i)
				}
				length++
				src = src[nb:]
			}
			out = append(out, src[:length]...)
			src = src[length:]
			continue
		case 1:
			length = 4 + int(tag>>2)&7
			offset = int(tag>>5)<<8 | int(src[1])
			src = src[2:]
		case 2:
			length = int(tag>>2) + 1
			offset = int(binary.LittleEndian.Uint16(src[1:]))
			src = src[3:]
		case 3:
			length = int(tag>>2) + 1
			offset = int(binary.LittleEndian.Uint32(src[1:]))
			src = src[5:]
		}
		if offset <= 0 || offset > len(out) {
			return nil, errors.New("snappy: bad offset")
		}
		for i := 0; i < length; i++ {
			out = append(out, out[len(out)-offset])
		}
	}
	if uint64(len(out)) != n {
		return nil, errors.New("snappy: bad length")
	}
	return out, nil
}

// fields walks one protobuf message: fn gets each field's number, wire type,
// varint/fixed value and bytes.
func fields(b []byte, fn func(num int, wt int, v uint64, data []byte)) error {
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return errors.New("pb: bad key")
		}
		b = b[k:]
		num, wt := int(key>>3), int(key&7)
		switch wt {
		case 0:
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return errors.New("pb: bad varint")
			}
			b = b[k:]
			fn(num, wt, v, nil)
		case 1:
			fn(num, wt, binary.LittleEndian.Uint64(b), nil)
			b = b[8:]
		case 2:
			l, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < l {
				return errors.New("pb: bad length")
			}
			fn(num, wt, 0, b[k:k+int(l)])
			b = b[k+int(l):]
		default:
			return errors.New("pb: unsupported wire type")
		}
	}
	return nil
}

// decodeReadResponse returns the series of a SAMPLES ReadResponse (all queries).
func decodeReadResponse(b []byte) ([]Series, error) {
	var out []Series
	var perr error
	err := fields(b, func(num, _ int, _ uint64, qr []byte) {
		if num != 1 {
			return
		}
		if e := fields(qr, func(num, _ int, _ uint64, ts []byte) {
			if num != 1 {
				return
			}
			var s Series
			_ = fields(ts, func(num, _ int, _ uint64, d []byte) {
				switch num {
				case 1:
					var l Label
					_ = fields(d, func(num, _ int, _ uint64, s []byte) {
						if num == 1 {
							l.Name = string(s)
						} else if num == 2 {
							l.Value = string(s)
						}
					})
					s.Labels = append(s.Labels, l)
				case 2:
					var smp Sample
					_ = fields(d, func(num, _ int, v uint64, _ []byte) {
						if num == 1 {
							smp.V = math.Float64frombits(v)
						} else if num == 2 {
							smp.T = int64(v)
						}
					})
					s.Samples = append(s.Samples, smp)
				}
			})
			out = append(out, s)
		}); e != nil {
			perr = e
		}
	})
	if err == nil {
		err = perr
	}
	return out, err
}
