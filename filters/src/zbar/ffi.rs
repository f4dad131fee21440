//! A minimal safe wrapper over Debian's `libzbar0` (`zbar.h`): one image scanner, grey (`Y800`)
//! images, the decoded symbols' type names and data.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_uint, c_ulong, c_void};

#[repr(C)]
struct RawScanner {
    _private: [u8; 0],
}
#[repr(C)]
struct RawImage {
    _private: [u8; 0],
}
#[repr(C)]
struct RawSymbol {
    _private: [u8; 0],
}

type Cleanup = Option<unsafe extern "C" fn(*mut RawImage)>;

#[link(name = "zbar")]
extern "C" {
    fn zbar_image_scanner_create() -> *mut RawScanner;
    fn zbar_image_scanner_destroy(scanner: *mut RawScanner);
    fn zbar_image_scanner_enable_cache(scanner: *mut RawScanner, enable: c_int);
    fn zbar_image_create() -> *mut RawImage;
    fn zbar_image_destroy(image: *mut RawImage);
    fn zbar_image_set_format(image: *mut RawImage, fourcc: c_ulong);
    fn zbar_image_set_size(image: *mut RawImage, width: c_uint, height: c_uint);
    fn zbar_image_set_data(
        image: *mut RawImage,
        data: *const c_void,
        len: c_ulong,
        cleanup: Cleanup,
    );
    fn zbar_scan_image(scanner: *mut RawScanner, image: *mut RawImage) -> c_int;
    fn zbar_image_first_symbol(image: *const RawImage) -> *const RawSymbol;
    fn zbar_symbol_next(symbol: *const RawSymbol) -> *const RawSymbol;
    fn zbar_symbol_get_type(symbol: *const RawSymbol) -> c_int;
    fn zbar_symbol_get_data(symbol: *const RawSymbol) -> *const c_char;
    fn zbar_symbol_get_data_length(symbol: *const RawSymbol) -> c_uint;
    fn zbar_get_symbol_name(sym: c_int) -> *const c_char;
}

/// `Y800`: 8-bit grey, one byte per pixel, rows packed.
const Y800: c_ulong =
    (b'Y' as c_ulong) | (b'8' as c_ulong) << 8 | (b'0' as c_ulong) << 16 | (b'0' as c_ulong) << 24;

/// One decoded symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Symbol {
    /// zbar's symbology name (`QR-Code`, `EAN-13`, `CODE-128`, …).
    pub kind: String,
    /// The decoded data (lossy UTF-8).
    pub data: String,
}

/// A zbar image scanner with every symbology zbar enables by default (1D codes and QR).
pub struct Scanner {
    raw: *mut RawScanner,
}

// SAFETY: a zbar scanner has no thread affinity; `Scanner` is only used through `&mut self`,
// so it is never used from two threads at once.
unsafe impl Send for Scanner {}

impl Scanner {
    /// A new scanner (inter-frame result cache off: every scan reports what it sees).
    pub fn new() -> Option<Scanner> {
        // SAFETY: plain constructor; null is checked.
        let raw = unsafe { zbar_image_scanner_create() };
        if raw.is_null() {
            return None;
        }
        // SAFETY: `raw` is a valid scanner.
        unsafe { zbar_image_scanner_enable_cache(raw, 0) };
        Some(Scanner { raw })
    }

    /// Scans a packed grey image of `width`×`height` (`grey.len() == width * height`).
    pub fn scan(&mut self, grey: &[u8], width: u32, height: u32) -> Vec<Symbol> {
        if width == 0 || height == 0 || grey.len() != width as usize * height as usize {
            return Vec::new();
        }
        let mut out = Vec::new();
        // SAFETY: the image views `grey` (length checked above) only during this block; it is
        // destroyed before `grey`'s borrow ends, and its null cleanup handler never frees the
        // data. Symbols belong to the image and are read before it is destroyed.
        unsafe {
            let img = zbar_image_create();
            if img.is_null() {
                return out;
            }
            zbar_image_set_format(img, Y800);
            zbar_image_set_size(img, width, height);
            zbar_image_set_data(img, grey.as_ptr().cast(), grey.len() as c_ulong, None);
            if zbar_scan_image(self.raw, img) > 0 {
                let mut sym = zbar_image_first_symbol(img);
                while !sym.is_null() {
                    let name = zbar_get_symbol_name(zbar_symbol_get_type(sym));
                    let kind = if name.is_null() {
                        String::from("UNKNOWN")
                    } else {
                        CStr::from_ptr(name).to_string_lossy().into_owned()
                    };
                    let p = zbar_symbol_get_data(sym);
                    let n = zbar_symbol_get_data_length(sym) as usize;
                    let data = if p.is_null() {
                        String::new()
                    } else {
                        String::from_utf8_lossy(std::slice::from_raw_parts(p.cast::<u8>(), n))
                            .into_owned()
                    };
                    out.push(Symbol { kind, data });
                    sym = zbar_symbol_next(sym);
                }
            }
            zbar_image_destroy(img);
        }
        out
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `zbar_image_scanner_create` and is destroyed once.
        unsafe { zbar_image_scanner_destroy(self.raw) };
    }
}
