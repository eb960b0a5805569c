//! Raw pictures in planar YUV 4:2:0 (I420).

use std::fmt;

use openh264::formats::{BgraSliceU8, RgbSliceU8, RgbaSliceU8, YUVBuffer, YUVSource as _};

use crate::Error;

/// The longest side an [`I420Picture`] may have, in pixels (the H.264 encoder itself stops at
/// 3840×2160 or 2160×3840).
pub const MAX_PICTURE_SIDE: u32 = 16_384;

/// A raw picture in planar YUV 4:2:0 (I420): a full-size luma plane (Y) and two chroma planes
/// (U = Cb, V = Cr) of half the width and half the height, 8 bits a sample.
///
/// The three planes live in one buffer, one after the other (Y, then U, then V). Each plane is
/// `rows × stride` bytes: a row holds the plane's samples and then `stride - plane width` bytes
/// of padding, which the codecs ignore. Pictures the SDK makes (from RGB, or out of the decoder)
/// are packed: the strides are `width`, `width / 2` and `width / 2`.
///
/// Width and height must be even (4:2:0 has one chroma sample per 2×2 pixels), non-zero, and at
/// most [`MAX_PICTURE_SIDE`]; every constructor checks its input and answers a bad one with
/// [`Error::InvalidInput`], never a panic.
///
/// ```
/// use decart::realtime::codec::I420Picture;
///
/// // A packed 4×2 picture: 8 luma samples, then 2 U and 2 V samples.
/// let picture = I420Picture::from_vec(4, 2, vec![16; 12])?;
/// assert_eq!((picture.width(), picture.height()), (4, 2));
/// assert_eq!(picture.strides(), [4, 2, 2]);
/// assert_eq!(picture.u().len(), 2);
///
/// // A short buffer is an error, not a panic.
/// let err = I420Picture::from_vec(4, 2, vec![16; 11]).unwrap_err();
/// assert_eq!(err.code(), "INVALID_INPUT");
/// # Ok::<(), decart::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct I420Picture {
    width: u32,
    height: u32,
    strides: [usize; 3],
    /// Where the U and the V plane start in `data` (the Y plane starts at 0).
    u_start: usize,
    v_start: usize,
    data: Vec<u8>,
}

/// The checked size of a picture: even, non-zero, at most [`MAX_PICTURE_SIDE`].
pub(crate) fn check_size(width: u32, height: u32) -> Result<(usize, usize), Error> {
    for (field, side) in [("width", width), ("height", height)] {
        if side == 0 || side % 2 != 0 || side > MAX_PICTURE_SIDE {
            return Err(Error::invalid_input(
                field,
                format!(
                    "must be even and between 2 and {MAX_PICTURE_SIDE} (I420 has one chroma sample \
                     per 2×2 pixels), got {side}"
                ),
            ));
        }
    }
    Ok((width as usize, height as usize))
}

impl I420Picture {
    /// A black picture (Y = 16, U = V = 128: black in limited range), packed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `width` or `height` is odd, zero, or above
    /// [`MAX_PICTURE_SIDE`].
    pub fn new(width: u32, height: u32) -> Result<Self, Error> {
        let (w, h) = check_size(width, height)?;
        let luma = w * h;
        let mut data = vec![128u8; luma + luma / 2];
        data[..luma].fill(16);
        Self::from_vec(width, height, data)
    }

    /// A packed picture from one buffer: `width × height` luma bytes, then
    /// `width/2 × height/2` U bytes, then as many V bytes (`width × height × 3 / 2` in all).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the size is not valid (see [`I420Picture::new`]) or the
    /// buffer is not exactly `width × height × 3 / 2` bytes.
    pub fn from_vec(width: u32, height: u32, data: Vec<u8>) -> Result<Self, Error> {
        let (w, _) = check_size(width, height)?;
        Self::from_vec_with_strides(width, height, data, [w, w / 2, w / 2])
    }

    /// A picture from one buffer whose rows are padded: the Y plane is `height` rows of
    /// `strides[0]` bytes, then the U plane `height / 2` rows of `strides[1]` bytes, then the V
    /// plane `height / 2` rows of `strides[2]` bytes. The buffer is kept as it is (no copy).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the size is not valid (see [`I420Picture::new`]), a stride
    /// is shorter than its plane's width or above 2³¹ − 1, or the buffer is not exactly
    /// `strides[0] × height + (strides[1] + strides[2]) × height / 2` bytes.
    pub fn from_vec_with_strides(
        width: u32,
        height: u32,
        data: Vec<u8>,
        strides: [usize; 3],
    ) -> Result<Self, Error> {
        let (w, h) = check_size(width, height)?;
        check_strides(w, strides)?;
        // Strides are at most i32::MAX and rows at most 16384: no overflow on 64-bit targets,
        // and checked arithmetic keeps 32-bit ones honest.
        let size = |stride: usize, rows: usize| stride.checked_mul(rows);
        let (Some(y_len), Some(u_len), Some(v_len)) = (
            size(strides[0], h),
            size(strides[1], h / 2),
            size(strides[2], h / 2),
        ) else {
            return Err(Error::invalid_input(
                "strides",
                "the picture does not fit in memory",
            ));
        };
        let expected = y_len
            .checked_add(u_len)
            .and_then(|n| n.checked_add(v_len))
            .ok_or_else(|| Error::invalid_input("strides", "the picture does not fit in memory"))?;
        if data.len() != expected {
            return Err(Error::invalid_input(
                "data",
                format!(
                    "a {width}×{height} I420 picture with strides {strides:?} takes {expected} bytes, got {}",
                    data.len()
                ),
            ));
        }
        Ok(I420Picture {
            width,
            height,
            strides,
            u_start: y_len,
            v_start: y_len + u_len,
            data,
        })
    }

    /// A packed picture copied from three separate planes, each with its own stride (the
    /// distance in bytes between the starts of two rows). The last row of a plane may stop at
    /// the plane's width (no trailing padding needed).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the size is not valid (see [`I420Picture::new`]), a stride
    /// is shorter than its plane's width, or a plane is too short for its rows.
    pub fn from_planes(
        width: u32,
        height: u32,
        planes: [&[u8]; 3],
        strides: [usize; 3],
    ) -> Result<Self, Error> {
        let (w, h) = check_size(width, height)?;
        check_strides(w, strides)?;
        let mut data = Vec::with_capacity(w * h + w * h / 2);
        for (i, (plane, stride)) in planes.iter().zip(strides).enumerate() {
            let (pw, rows) = if i == 0 { (w, h) } else { (w / 2, h / 2) };
            let needed = (rows - 1)
                .checked_mul(stride)
                .and_then(|n| n.checked_add(pw))
                .filter(|&n| n <= plane.len());
            if needed.is_none() {
                return Err(Error::invalid_input(
                    format!("planes[{i}]"),
                    format!(
                        "{rows} rows of {pw} bytes at a stride of {stride} do not fit in {} bytes",
                        plane.len()
                    ),
                ));
            }
            for row in 0..rows {
                let start = row * stride;
                data.extend_from_slice(&plane[start..start + pw]);
            }
        }
        Self::from_vec(width, height, data)
    }

    /// A packed picture converted from packed 8-bit RGB (`R G B R G B …`, `width × height × 3`
    /// bytes, no row padding), with the BT.601 limited-range matrix (OpenH264's converter;
    /// chroma is the mean of each 2×2 block).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the size is not valid (see [`I420Picture::new`]) or `rgb`
    /// is not exactly `width × height × 3` bytes.
    pub fn from_rgb8(width: u32, height: u32, rgb: &[u8]) -> Result<Self, Error> {
        let dims = check_packed(width, height, rgb, 3, "rgb")?;
        Self::from_yuv_buffer(
            width,
            height,
            &YUVBuffer::from_rgb8_source(RgbSliceU8::new(rgb, dims)),
        )
    }

    /// A packed picture converted from packed 8-bit RGBA (`R G B A …`, `width × height × 4`
    /// bytes, no row padding; alpha is ignored), as [`from_rgb8`](Self::from_rgb8).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the size is not valid (see [`I420Picture::new`]) or `rgba`
    /// is not exactly `width × height × 4` bytes.
    pub fn from_rgba8(width: u32, height: u32, rgba: &[u8]) -> Result<Self, Error> {
        let dims = check_packed(width, height, rgba, 4, "rgba")?;
        Self::from_yuv_buffer(
            width,
            height,
            &YUVBuffer::from_rgba8_source(RgbaSliceU8::new(rgba, dims)),
        )
    }

    /// A packed picture converted from packed 8-bit BGRA (`B G R A …`, what many screen and
    /// camera capture APIs hand out), as [`from_rgb8`](Self::from_rgb8).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the size is not valid (see [`I420Picture::new`]) or `bgra`
    /// is not exactly `width × height × 4` bytes.
    pub fn from_bgra8(width: u32, height: u32, bgra: &[u8]) -> Result<Self, Error> {
        let dims = check_packed(width, height, bgra, 4, "bgra")?;
        Self::from_yuv_buffer(
            width,
            height,
            &YUVBuffer::from_bgra8_source(BgraSliceU8::new(bgra, dims)),
        )
    }

    fn from_yuv_buffer(width: u32, height: u32, yuv: &YUVBuffer) -> Result<Self, Error> {
        let mut data = Vec::with_capacity(yuv.y().len() + 2 * yuv.u().len());
        data.extend_from_slice(yuv.y());
        data.extend_from_slice(yuv.u());
        data.extend_from_slice(yuv.v());
        Self::from_vec(width, height, data)
    }

    /// Width in pixels (even).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels (even).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The strides of the Y, U and V planes, in bytes.
    pub fn strides(&self) -> [usize; 3] {
        self.strides
    }

    /// The Y (luma) plane: `height` rows of `strides()[0]` bytes.
    pub fn y(&self) -> &[u8] {
        &self.data[..self.u_start]
    }

    /// The U (Cb) plane: `height / 2` rows of `strides()[1]` bytes.
    pub fn u(&self) -> &[u8] {
        &self.data[self.u_start..self.v_start]
    }

    /// The V (Cr) plane: `height / 2` rows of `strides()[2]` bytes.
    pub fn v(&self) -> &[u8] {
        &self.data[self.v_start..]
    }

    /// The three planes, writable (to draw into a picture, or to reuse one frame after frame).
    pub fn planes_mut(&mut self) -> [&mut [u8]; 3] {
        let (y, rest) = self.data.split_at_mut(self.u_start);
        let (u, v) = rest.split_at_mut(self.v_start - self.u_start);
        [y, u, v]
    }

    /// The whole buffer: the Y, U and V planes one after the other.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The whole buffer, owned.
    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }
}

/// Strides at least the plane widths, and small enough for OpenH264's `int`.
fn check_strides(w: usize, strides: [usize; 3]) -> Result<(), Error> {
    for (i, stride) in strides.into_iter().enumerate() {
        let plane_width = if i == 0 { w } else { w / 2 };
        if stride < plane_width || stride > i32::MAX as usize {
            return Err(Error::invalid_input(
                format!("strides[{i}]"),
                format!(
                    "must be between the plane's width ({plane_width}) and 2^31 - 1, got {stride}"
                ),
            ));
        }
    }
    Ok(())
}

/// A packed RGB-like buffer of `bytes_per_pixel` bytes a pixel, exactly the size.
fn check_packed(
    width: u32,
    height: u32,
    pixels: &[u8],
    bytes_per_pixel: usize,
    field: &str,
) -> Result<(usize, usize), Error> {
    let (w, h) = check_size(width, height)?;
    let expected = w * h * bytes_per_pixel;
    if pixels.len() != expected {
        return Err(Error::invalid_input(
            field,
            format!(
                "a {width}×{height} picture of {bytes_per_pixel} bytes a pixel takes {expected} bytes, got {}",
                pixels.len()
            ),
        ));
    }
    Ok((w, h))
}

impl fmt::Debug for I420Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("I420Picture")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("strides", &self.strides)
            .field("bytes", &self.data.len())
            .finish()
    }
}
