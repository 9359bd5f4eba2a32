package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// File is a safetensors file memory-mapped read-only. Its tensor views stay
// valid until Close; the mapping is read-only, so writing to a view faults.
// A File is safe for concurrent readers.
type File struct {
	Header *Header
	path   string
	data   []byte // the whole file, mapped
}

// Open maps path read-only and validates its header. Errors name the file.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrInvalid)
	}
	size := st.Size()
	h, err := ParseHeader(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if size != int64(int(size)) {
		return nil, fmt.Errorf("%s: file too large to map", path)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return &File{Header: h, path: path, data: data}, nil
}

// Path returns the path the file was opened from.
func (f *File) Path() string { return f.path }

// Close unmaps the file. Views obtained from it must no longer be used.
func (f *File) Close() error {
	if f.data == nil {
		return nil
	}
	err := unix.Munmap(f.data)
	f.data = nil
	if err != nil {
		return fmt.Errorf("unmapping %s: %w", f.path, err)
	}
	return nil
}

// Bytes returns a zero-copy view of the named tensor's raw little-endian
// data, along with its description.
func (f *File) Bytes(name string) (TensorInfo, []byte, error) {
	t, ok := f.Header.Tensor(name)
	if !ok {
		return t, nil, fmt.Errorf("%s: no tensor %q", f.path, name)
	}
	return t, f.data[t.FileBegin:t.FileEnd:t.FileEnd], nil
}

// Float32s returns the named tensor as float32 values. For an F32 tensor
// whose data is 4-byte aligned (always, for files written by Writer or by
// the Hugging Face libraries, which pad the header to 8 bytes) this is a
// zero-copy view of the read-only mapping; otherwise the values are
// converted into a new slice.
func (f *File) Float32s(name string) ([]float32, error) {
	t, b, err := f.Bytes(name)
	if err != nil {
		return nil, err
	}
	if t.DType == F32 {
		if v, ok := Float32View(b); ok {
			return v, nil
		}
	}
	out := make([]float32, t.NumElements())
	if err := ToFloat32(out, b, t.DType); err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.path, name, err)
	}
	return out, nil
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Float32View reinterprets little-endian F32 bytes as []float32 without
// copying. It returns false if b is misaligned, not a multiple of 4 bytes
// long, or the host is big-endian.
func Float32View(b []byte) ([]float32, bool) {
	if len(b)%4 != 0 || !littleEndian {
		return nil, false
	}
	if len(b) == 0 {
		return []float32{}, true
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), true
}

// Uint16View reinterprets little-endian 2-byte elements (F16, BF16) as
// []uint16 without copying, under the same conditions as Float32View.
func Uint16View(b []byte) ([]uint16, bool) {
	if len(b)%2 != 0 || !littleEndian {
		return nil, false
	}
	if len(b) == 0 {
		return []uint16{}, true
	}
	if uintptr(unsafe.Pointer(&b[0]))%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2), true
}

// ToFloat32 converts src, raw little-endian elements of type dt (F32, F16 or
// BF16), into dst, which must hold exactly len(src)/dt.Size() values.
func ToFloat32(dst []float32, src []byte, dt DType) error {
	switch dt {
	case F32, F16, BF16:
	default:
		return fmt.Errorf("cannot convert %s to float32", dt)
	}
	if len(src) != len(dst)*dt.Size() {
		return fmt.Errorf("converting %s: %d bytes for %d values", dt, len(src), len(dst))
	}
	switch dt {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	}
	return nil
}

// BF16ToF32 widens a bfloat16 to float32 exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds a float32 to the nearest bfloat16 (ties to even); NaN
// stays NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it quiet and non-zero.
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToF32 widens an IEEE 754 half-precision value to float32 exactly,
// including subnormals, infinities and NaN.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: normalise.
	e := uint32(113)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToF16 rounds a float32 to the nearest half-precision value (ties to
// even), overflowing to infinity and underflowing through subnormals to 0.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, correctly giving Inf at the top
	}
	return sign | uint16(r)
}
