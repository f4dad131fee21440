//! A minimal binding to Tesseract's C API (`libtesseract`, Debian's `libtesseract-dev` 5.3):
//! one engine, a grey image in, UTF-8 text out.

use std::ffi::{c_char, c_int, CStr, CString};

#[repr(C)]
struct TessBaseApi {
    _private: [u8; 0],
}

/// `PSM_SINGLE_LINE` of `TessPageSegMode`.
const PSM_SINGLE_LINE: c_int = 7;

#[link(name = "tesseract")]
extern "C" {
    fn TessBaseAPICreate() -> *mut TessBaseApi;
    fn TessBaseAPIDelete(handle: *mut TessBaseApi);
    fn TessBaseAPIInit3(
        handle: *mut TessBaseApi,
        datapath: *const c_char,
        language: *const c_char,
    ) -> c_int;
    fn TessBaseAPISetVariable(
        handle: *mut TessBaseApi,
        name: *const c_char,
        value: *const c_char,
    ) -> c_int;
    fn TessBaseAPISetPageSegMode(handle: *mut TessBaseApi, mode: c_int);
    fn TessBaseAPISetImage(
        handle: *mut TessBaseApi,
        imagedata: *const u8,
        width: c_int,
        height: c_int,
        bytes_per_pixel: c_int,
        bytes_per_line: c_int,
    );
    fn TessBaseAPISetSourceResolution(handle: *mut TessBaseApi, ppi: c_int);
    fn TessBaseAPIGetUTF8Text(handle: *mut TessBaseApi) -> *mut c_char;
    fn TessBaseAPIMeanTextConf(handle: *mut TessBaseApi) -> c_int;
    fn TessDeleteText(text: *const c_char);
    fn TessBaseAPIClear(handle: *mut TessBaseApi);
    fn TessBaseAPIEnd(handle: *mut TessBaseApi);
}

/// One Tesseract engine set up to read a single line restricted to an alphabet.
pub struct Ocr {
    handle: *mut TessBaseApi,
}

// SAFETY: a TessBaseAPI may move between threads; `Ocr` is used by one thread at a time
// (`&mut self` for every call).
unsafe impl Send for Ocr {}

impl Ocr {
    /// Loads `language` (e.g. `eng`) from Tesseract's default data directory (or
    /// `TESSDATA_PREFIX`), in single-line mode, restricted to the characters of `alphabet`.
    pub fn new(language: &str, alphabet: &str) -> Result<Ocr, String> {
        let lang = CString::new(language).map_err(|e| e.to_string())?;
        let whitelist = CString::new(alphabet).map_err(|e| e.to_string())?;
        // SAFETY: plain C API calls on a handle we own; strings outlive the calls.
        unsafe {
            let handle = TessBaseAPICreate();
            if handle.is_null() {
                return Err("TessBaseAPICreate failed".into());
            }
            let ocr = Ocr { handle };
            if TessBaseAPIInit3(handle, std::ptr::null(), lang.as_ptr()) != 0 {
                return Err(format!(
                    "Tesseract cannot load language '{language}' (install tesseract-ocr-{language})"
                ));
            }
            TessBaseAPISetPageSegMode(handle, PSM_SINGLE_LINE);
            for (k, v) in [
                (c"tessedit_char_whitelist", whitelist.as_c_str()),
                (c"debug_file", c"/dev/null"),
                (c"classify_bln_numeric_mode", c"0"),
            ] {
                TessBaseAPISetVariable(handle, k.as_ptr(), v.as_ptr());
            }
            Ok(ocr)
        }
    }

    /// Reads one line from an 8-bit grey image (`stride` bytes per row). Returns the text and
    /// Tesseract's mean confidence (0-100).
    pub fn read(
        &mut self,
        grey: &[u8],
        width: usize,
        height: usize,
        stride: usize,
    ) -> (String, i32) {
        if width == 0 || height == 0 || grey.len() < stride * (height - 1) + width {
            return (String::new(), 0);
        }
        // SAFETY: the image buffer is checked large enough and outlives the recognition
        // (GetUTF8Text runs it); the returned text is copied then freed with TessDeleteText.
        unsafe {
            TessBaseAPISetImage(
                self.handle,
                grey.as_ptr(),
                width as c_int,
                height as c_int,
                1,
                stride as c_int,
            );
            TessBaseAPISetSourceResolution(self.handle, 300);
            let p = TessBaseAPIGetUTF8Text(self.handle);
            let text = if p.is_null() {
                String::new()
            } else {
                let s = CStr::from_ptr(p).to_string_lossy().into_owned();
                TessDeleteText(p);
                s
            };
            let conf = TessBaseAPIMeanTextConf(self.handle);
            TessBaseAPIClear(self.handle);
            (text, conf)
        }
    }
}

impl Drop for Ocr {
    fn drop(&mut self) {
        // SAFETY: the handle came from TessBaseAPICreate and is released once.
        unsafe {
            TessBaseAPIEnd(self.handle);
            TessBaseAPIDelete(self.handle);
        }
    }
}
