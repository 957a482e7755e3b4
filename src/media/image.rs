//! Decoding of untrusted uploaded images (document photos and selfies) into 8-bit RGB.
//!
//! Every upload is treated as hostile: the byte size is checked first, then the format is
//! detected from the magic bytes (never from a file name or a declared content type), then the
//! dimensions are read from the header and refused before a single pixel buffer is allocated.
//! JPEG and WebP files are also scanned for truncation, which their decoders let through. Only
//! then are the pixels decoded, with the decoder's own limits set as a second line of defence,
//! and a panic inside a decoder reported as a corrupt file.

use std::io::{Cursor, ErrorKind};
use std::panic::{self, AssertUnwindSafe};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

const MIB: u64 = 1 << 20;

/// Memory a decoder may use besides the output pixel buffer (which the pixel limit bounds):
/// decompressed PNG text and ICC chunks, mostly. Real photos need far less than 1 MiB; the cap
/// stops a metadata decompression bomb.
const DECODER_WORKING_MEMORY: u64 = 64 * MIB;

/// Limits checked before a full decode (from the header), so a hostile file costs bounded time and memory.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct DecodeLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// Largest accepted width × height.
    pub max_pixels: u64,
    /// Largest accepted width and largest accepted height, in pixels.
    pub max_side: u32,
}

impl Default for DecodeLimits {
    /// 20 MiB, 40 megapixels and 12000 px a side: roomy for any phone camera or ID scanner,
    /// while the worst case (40 M pixels of 16-bit RGBA plus its 8-bit RGB copy) stays under
    /// half a GiB per decode.
    fn default() -> Self {
        Self {
            max_bytes: 20 * MIB,
            max_pixels: 40_000_000,
            max_side: 12_000,
        }
    }
}

/// Why an image was refused. Messages carry sizes and limits only, never bytes of the image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image is empty (0 bytes)")]
    Empty,

    #[error(
        "image is {} ({bytes} bytes); the limit is {} ({limit} bytes)",
        mib(*.bytes),
        mib(*.limit)
    )]
    TooLarge { bytes: u64, limit: u64 },

    #[error("{}; only JPEG, PNG and WebP images are accepted", describe_detected(*.detected))]
    UnsupportedFormat { detected: Option<ImageFormat> },

    #[error(
        "image is {width}x{height} px ({} pixels); the limit is {limit} pixels ({:.1} \
         megapixels), downscale it before uploading",
        u64::from(*.width) * u64::from(*.height),
        megapixels(*.limit)
    )]
    TooManyPixels { width: u32, height: u32, limit: u64 },

    #[error("image is {width}x{height} px; neither side may exceed {limit} px")]
    SideTooLong { width: u32, height: u32, limit: u32 },

    #[error(
        "the {format} file uses an encoding feature the decoder does not support (for JPEG: \
         arithmetic coding, lossless or 12-bit samples); re-save it as a standard 8-bit JPEG, \
         PNG or WebP"
    )]
    UnsupportedEncoding { format: &'static str },

    #[error(
        "decoding the {format} file needs more than the {} of working memory allowed besides \
         the pixels; the file is probably malformed (e.g. oversized metadata)",
        mib(*.limit)
    )]
    DecodeLimitExceeded { format: &'static str, limit: u64 },

    #[error("the {format} file is corrupt: {reason}")]
    Corrupt {
        format: &'static str,
        reason: &'static str,
    },
}

impl ImageError {
    /// Stable machine-readable code for API responses and metrics; never changes for a variant.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "image_empty",
            Self::TooLarge { .. } => "image_too_large",
            Self::UnsupportedFormat { .. } => "image_unsupported_format",
            Self::TooManyPixels { .. } => "image_too_many_pixels",
            Self::SideTooLong { .. } => "image_side_too_long",
            Self::UnsupportedEncoding { .. } => "image_unsupported_encoding",
            Self::DecodeLimitExceeded { .. } => "image_decode_limit_exceeded",
            Self::Corrupt { .. } => "image_corrupt",
        }
    }
}

const TRUNCATED: &str = "it ends before the image data is complete (truncated upload?)";
const UNDECODABLE: &str = "its data is damaged or truncated and cannot be decoded";
const ZERO_SIZED: &str = "its header declares a zero width or height";

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

fn megapixels(pixels: u64) -> f64 {
    pixels as f64 / 1e6
}

fn describe_detected(detected: Option<ImageFormat>) -> String {
    match detected {
        Some(format) => format!("the data is {}", format.to_mime_type()),
        None => "the data is not a recognised image format".to_owned(),
    }
}

/// Decodes JPEG, PNG or WebP bytes into 8-bit RGB with the EXIF orientation applied.
///
/// Alpha is dropped rather than composited: cameras never produce it, so it only appears in
/// edited files, and compositing onto an arbitrary white or black background would feed that
/// invented colour to the face models. The stored colour under the alpha is kept as is.
/// 16-bit and grayscale inputs are converted to 8-bit RGB. ICC profiles are ignored.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, ImageError> {
    let size = bytes.len() as u64;
    if size == 0 {
        return Err(ImageError::Empty);
    }
    if size > limits.max_bytes {
        return Err(ImageError::TooLarge {
            bytes: size,
            limit: limits.max_bytes,
        });
    }

    let format =
        image::guess_format(bytes).map_err(|_| ImageError::UnsupportedFormat { detected: None })?;
    let name = match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        other => {
            return Err(ImageError::UnsupportedFormat {
                detected: Some(other),
            })
        }
    };

    // Cheap scans for what the decoders are too lenient about. The PNG decoder needs none: it
    // fails on missing image data and checks every chunk's CRC.
    let truncated = ImageError::Corrupt {
        format: name,
        reason: TRUNCATED,
    };
    match format {
        ImageFormat::Jpeg => match jpeg_layout(bytes) {
            JpegLayout::Complete => {}
            JpegLayout::Truncated => return Err(truncated),
            JpegLayout::UnsupportedCoding => {
                return Err(ImageError::UnsupportedEncoding { format: name })
            }
        },
        ImageFormat::WebP if !webp_chunks_complete(bytes) => return Err(truncated),
        _ => {}
    }

    // The decoders have known panics on malformed input (zune-jpeg 0.5.15 panics in its IDCT on
    // some files); one hostile upload must not take the caller's thread down. This relies on the
    // default `panic = "unwind"`. Nothing built inside outlives a panic, hence AssertUnwindSafe.
    panic::catch_unwind(AssertUnwindSafe(|| {
        decode_checked(bytes, format, name, limits)
    }))
    .unwrap_or(Err(ImageError::Corrupt {
        format: name,
        reason: UNDECODABLE,
    }))
}

/// Header, limits, then pixels, for a format already known to be JPEG, PNG or WebP.
fn decode_checked(
    bytes: &[u8],
    format: ImageFormat,
    name: &'static str,
    limits: &DecodeLimits,
) -> Result<RgbImage, ImageError> {
    // Building the decoder parses the header only. No width/height limits yet: the decoder would
    // refuse with a bare "dimension error", and the integrator deserves the actual numbers.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decoder_limits(None));
    let mut decoder = reader.into_decoder().map_err(|e| map_error(e, name))?;

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits, name)?;

    decoder
        .set_limits(decoder_limits(Some(limits.max_side)))
        .map_err(|e| map_error(e, name))?;
    let orientation = decoder.orientation().map_err(|e| map_error(e, name))?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(|e| map_error(e, name))?;

    // Convert before rotating so the rotation copies 3 bytes a pixel, not up to 8.
    let mut rgb = DynamicImage::ImageRgb8(decoded.into_rgb8());
    rgb.apply_orientation(orientation);
    Ok(rgb.into_rgb8())
}

fn decoder_limits(max_side: Option<u32>) -> image::Limits {
    // `image::Limits` is non-exhaustive, so it cannot be built with a struct literal.
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = max_side;
    decoder_limits.max_image_height = max_side;
    decoder_limits.max_alloc = Some(DECODER_WORKING_MEMORY);
    decoder_limits
}

fn check_dimensions(
    width: u32,
    height: u32,
    limits: &DecodeLimits,
    format: &'static str,
) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt {
            format,
            reason: ZERO_SIZED,
        });
    }
    // Pixels first: for a hostile 100000x100000 header it is the more telling complaint.
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(ImageError::SideTooLong {
            width,
            height,
            limit: limits.max_side,
        });
    }
    Ok(())
}

/// The library's messages are not forwarded: some quote bytes of the file (chunk names, marker
/// values), and they mean little to an integrator anyway.
fn map_error(err: image::ImageError, format: &'static str) -> ImageError {
    match err {
        image::ImageError::Unsupported(_) => ImageError::UnsupportedEncoding { format },
        image::ImageError::Limits(_) => ImageError::DecodeLimitExceeded {
            format,
            limit: DECODER_WORKING_MEMORY,
        },
        image::ImageError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => {
            ImageError::Corrupt {
                format,
                reason: TRUNCATED,
            }
        }
        _ => ImageError::Corrupt {
            format,
            reason: UNDECODABLE,
        },
    }
}

/// What a walk over a JPEG's marker segments, up to its first scan, finds.
enum JpegLayout {
    Complete,
    /// zune-jpeg, in the lenient mode `image` runs it in, fills missing scan data with grey
    /// instead of failing, so a selfie cut off in transit would "decode".
    Truncated,
    /// Lossless, hierarchical or arithmetic-coded: zune-jpeg 0.5.15 cannot decode these and
    /// reports them as a generic format error.
    UnsupportedCoding,
}

/// Walks the marker segments by their lengths (so an EXIF thumbnail's own markers are skipped)
/// to the first start-of-scan. A complete file has an end-of-image marker (FF D9) after it:
/// entropy-coded data cannot contain that pair (0xFF is stuffed as FF 00), and trailing bytes
/// after it, which some cameras add, are fine.
fn jpeg_layout(bytes: &[u8]) -> JpegLayout {
    let mut pos = 2; // past the start-of-image marker
    loop {
        // Like libjpeg, skip stray bytes between segments, then any 0xFF fill bytes.
        while bytes.get(pos).is_some_and(|&b| b != 0xFF) {
            pos += 1;
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return JpegLayout::Truncated;
        };
        pos += 1;
        match marker {
            0xDA if bytes[pos..].windows(2).any(|w| w == [0xFF, 0xD9]) => {
                return JpegLayout::Complete
            }
            0xDA => return JpegLayout::Truncated,
            // Start-of-frame markers other than Huffman-coded baseline, extended and progressive,
            // when the segment is shaped like a frame header (so random bytes count as corrupt).
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF if is_frame_header(&bytes[pos..]) => {
                return JpegLayout::UnsupportedCoding
            }
            // Markers without a length field.
            0x01 | 0xD0..=0xD7 => {}
            _ => match bytes.get(pos..pos + 2) {
                Some(&[high, low]) => pos += usize::from(u16::from_be_bytes([high, low])),
                _ => return JpegLayout::Truncated,
            },
        }
    }
}

/// A frame header is its length, precision, height, width, component count (1 to 4), then 3
/// bytes per component, and the length covers exactly that.
fn is_frame_header(segment: &[u8]) -> bool {
    match segment.get(..8) {
        Some(&[high, low, _, _, _, _, _, components]) => {
            (1..=4).contains(&components)
                && u16::from_be_bytes([high, low]) == 8 + 3 * u16::from(components)
        }
        _ => false,
    }
}

/// image-webp does not check chunk sizes against the data it was given: a truncated or hostile
/// file can declare an EXIF chunk of up to 4 GiB, which it allocates before noticing the data is
/// missing. Require every chunk to fit in the bytes. The walk goes to the end of the data rather
/// than of the RIFF container, because the decoder does not stop exactly at the container's end
/// either; a file with junk after its container may be refused, which is safe.
fn webp_chunks_complete(bytes: &[u8]) -> bool {
    let mut pos = 12; // past "RIFF", the container size and "WEBP"
    while let Some(chunk_size) = read_u32_le(bytes, pos + 4) {
        let chunk_end = (pos + 8).saturating_add(chunk_size as usize);
        if chunk_end > bytes.len() {
            return false;
        }
        // Chunks are padded to an even length.
        pos = chunk_end + (chunk_size as usize & 1);
    }
    true
}

fn read_u32_le(bytes: &[u8], pos: usize) -> Option<u32> {
    let field = bytes.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use image::codecs::jpeg::JpegEncoder;
    use image::codecs::webp::WebPEncoder;
    use image::{ExtendedColorType, ImageBuffer, ImageEncoder, Luma, Rgb, Rgba};

    use super::*;

    const RED: Rgb<u8> = Rgb([230, 20, 20]);
    const GREY: Rgb<u8> = Rgb([120, 120, 120]);

    /// 64x32 grey image with a 16x16 red block in the top-left corner. The block is aligned to
    /// JPEG's 16x16 colour-subsampling blocks so it survives lossy encoding cleanly.
    fn marked_image() -> RgbImage {
        RgbImage::from_fn(64, 32, |x, y| if x < 16 && y < 16 { RED } else { GREY })
    }

    fn is_red(p: Rgb<u8>) -> bool {
        p[0] > 180 && p[1] < 70 && p[2] < 70
    }

    fn is_grey(p: Rgb<u8>) -> bool {
        p.0.iter().all(|&c| (100..=140).contains(&c))
    }

    fn jpeg(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 95)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    fn png(img: DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn webp(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        WebPEncoder::new_lossless(&mut out)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    /// Minimal TIFF structure holding one IFD entry: Orientation (0x0112), SHORT, count 1.
    fn exif_tiff(orientation: u16, big_endian: bool) -> Vec<u8> {
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut tiff = Vec::new();
        tiff.extend_from_slice(if big_endian { b"MM" } else { b"II" });
        tiff.extend_from_slice(&u16b(42));
        tiff.extend_from_slice(&u32b(8)); // IFD0 right after this header
        tiff.extend_from_slice(&u16b(1)); // one entry
        tiff.extend_from_slice(&u16b(0x0112));
        tiff.extend_from_slice(&u16b(3)); // SHORT
        tiff.extend_from_slice(&u32b(1));
        tiff.extend_from_slice(&u16b(orientation));
        tiff.extend_from_slice(&[0, 0]); // value field padding
        tiff.extend_from_slice(&u32b(0)); // no next IFD
        tiff
    }

    /// Inserts an APP1 "Exif" segment right after the JPEG's start-of-image marker.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16, big_endian: bool) -> Vec<u8> {
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend(exif_tiff(orientation, big_endian));
        let length = u16::try_from(payload.len() + 2).unwrap();
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend(payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&crc32(&chunk[4..]).to_be_bytes());
        chunk
    }

    /// Inserts a chunk right after IHDR (8-byte signature + 25-byte IHDR chunk).
    fn png_with_chunk(png: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = png[..33].to_vec();
        out.extend(png_chunk(kind, data));
        out.extend_from_slice(&png[33..]);
        out
    }

    fn refused(bytes: &[u8], limits: &DecodeLimits) -> ImageError {
        match decode_image(bytes, limits) {
            Ok(img) => panic!(
                "expected a refusal, got a {}x{} image",
                img.width(),
                img.height()
            ),
            Err(err) => err,
        }
    }

    fn code(bytes: &[u8]) -> &'static str {
        refused(bytes, &DecodeLimits::default()).code()
    }

    /// Deterministic xorshift bytes, so a failure reproduces.
    fn garbage(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect()
    }

    #[test]
    fn default_limits_are_documented_values_and_round_trip_through_serde() {
        let limits = DecodeLimits::default();
        assert_eq!(limits.max_bytes, 20 * 1024 * 1024);
        assert_eq!(limits.max_pixels, 40_000_000);
        assert_eq!(limits.max_side, 12_000);
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(serde_json::from_str::<DecodeLimits>(&json).unwrap(), limits);
    }

    #[test]
    fn png_decodes_exactly() {
        let img = marked_image();
        let out = decode_image(
            &png(DynamicImage::ImageRgb8(img.clone())),
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(out, img);
    }

    #[test]
    fn lossless_webp_decodes_exactly() {
        let img = marked_image();
        assert_eq!(
            decode_image(&webp(&img), &DecodeLimits::default()).unwrap(),
            img
        );
    }

    #[test]
    fn jpeg_without_exif_keeps_its_layout() {
        let out = decode_image(&jpeg(&marked_image()), &DecodeLimits::default()).unwrap();
        assert_eq!(out.dimensions(), (64, 32));
        assert!(is_red(*out.get_pixel(8, 8)));
        assert!(is_grey(*out.get_pixel(56, 24)));
    }

    #[test]
    fn exif_orientation_6_rotates_clockwise() {
        for big_endian in [true, false] {
            let bytes = with_exif_orientation(&jpeg(&marked_image()), 6, big_endian);
            let out = decode_image(&bytes, &DecodeLimits::default()).unwrap();
            assert_eq!(out.dimensions(), (32, 64), "big endian: {big_endian}");
            assert!(
                is_red(*out.get_pixel(24, 8)),
                "marker must move to the top-right"
            );
            assert!(is_grey(*out.get_pixel(8, 8)));
            assert!(is_grey(*out.get_pixel(8, 56)));
        }
    }

    #[test]
    fn exif_orientation_3_rotates_180_degrees() {
        let bytes = with_exif_orientation(&jpeg(&marked_image()), 3, true);
        let out = decode_image(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(out.dimensions(), (64, 32));
        assert!(
            is_red(*out.get_pixel(56, 24)),
            "marker must move to the bottom-right"
        );
        assert!(is_grey(*out.get_pixel(8, 8)));
    }

    #[test]
    fn exif_orientation_8_rotates_counter_clockwise() {
        let bytes = with_exif_orientation(&jpeg(&marked_image()), 8, true);
        let out = decode_image(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(out.dimensions(), (32, 64));
        assert!(
            is_red(*out.get_pixel(8, 56)),
            "marker must move to the bottom-left"
        );
        assert!(is_grey(*out.get_pixel(8, 8)));
        assert!(is_grey(*out.get_pixel(24, 8)));
    }

    #[test]
    fn png_exif_chunk_orientation_is_applied() {
        let plain = png(DynamicImage::ImageRgb8(marked_image()));
        let bytes = png_with_chunk(&plain, b"eXIf", &exif_tiff(6, true));
        let out = decode_image(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(out.dimensions(), (32, 64));
        assert_eq!(*out.get_pixel(24, 8), RED);
        assert_eq!(*out.get_pixel(8, 8), GREY);
    }

    #[test]
    fn rgba16_png_becomes_8_bit_rgb_with_alpha_dropped() {
        let img = ImageBuffer::from_vec(
            2,
            1,
            vec![
                0xFFFF, 0x8080, 0x0000, 0xFFFF, 0x1234, 0xFFFF, 0x4040, 0x0000u16,
            ],
        )
        .map(DynamicImage::ImageRgba16)
        .unwrap();
        let out = decode_image(&png(img), &DecodeLimits::default()).unwrap();
        assert_eq!(out.dimensions(), (2, 1));
        assert_eq!(*out.get_pixel(0, 0), Rgb([255, 128, 0]));
        // Fully transparent, yet the stored colour is kept rather than composited.
        assert_eq!(*out.get_pixel(1, 0), Rgb([18, 255, 64]));
    }

    #[test]
    fn gray_pngs_are_expanded_to_rgb() {
        let gray = ImageBuffer::from_fn(3, 2, |x, y| Luma([(x * 50 + y * 100) as u8]));
        let out = decode_image(
            &png(DynamicImage::ImageLuma8(gray)),
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(out.dimensions(), (3, 2));
        assert_eq!(*out.get_pixel(2, 1), Rgb([200, 200, 200]));

        let gray16 = ImageBuffer::from_pixel(1, 1, Luma([0xFFFFu16]));
        let out = decode_image(
            &png(DynamicImage::ImageLuma16(gray16)),
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(*out.get_pixel(0, 0), Rgb([255, 255, 255]));

        let gray_alpha = ImageBuffer::from_pixel(1, 1, image::LumaA([77u8, 0]));
        let out = decode_image(
            &png(DynamicImage::ImageLumaA8(gray_alpha)),
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(*out.get_pixel(0, 0), Rgb([77, 77, 77]));
    }

    #[test]
    fn rgba_webp_drops_alpha() {
        let rgba = ImageBuffer::from_pixel(4, 4, Rgba([10u8, 200, 30, 0]));
        let mut bytes = Vec::new();
        WebPEncoder::new_lossless(&mut bytes)
            .write_image(rgba.as_raw(), 4, 4, ExtendedColorType::Rgba8)
            .unwrap();
        let out = decode_image(&bytes, &DecodeLimits::default()).unwrap();
        assert!(out.pixels().all(|p| *p == Rgb([10, 200, 30])));
    }

    #[test]
    fn empty_input_is_refused() {
        let err = refused(&[], &DecodeLimits::default());
        assert_eq!(err.code(), "image_empty");
        assert_eq!(err.to_string(), "image is empty (0 bytes)");
    }

    #[test]
    fn byte_size_is_checked_before_anything_else() {
        let limits = DecodeLimits {
            max_bytes: 100,
            ..DecodeLimits::default()
        };
        // Not even an image: the size check must come first and spare the parsing.
        let err = refused(&[b'x'; 101], &limits);
        assert_eq!(err.code(), "image_too_large");
        assert_eq!(
            err.to_string(),
            "image is 0.0 MiB (101 bytes); the limit is 0.0 MiB (100 bytes)"
        );
        assert_eq!(
            ImageError::TooLarge {
                bytes: 26_528_972,
                limit: 20 * MIB
            }
            .to_string(),
            "image is 25.3 MiB (26528972 bytes); the limit is 20.0 MiB (20971520 bytes)"
        );
        // Exactly at the limit is fine.
        let small = webp(&marked_image());
        let limits = DecodeLimits {
            max_bytes: small.len() as u64,
            ..DecodeLimits::default()
        };
        assert!(decode_image(&small, &limits).is_ok());
    }

    #[test]
    fn other_formats_are_refused_by_magic_bytes() {
        let cases: [(&[u8], &str); 8] = [
            (
                b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
                "the data is image/gif",
            ),
            (
                b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00",
                "the data is image/bmp",
            ),
            (b"II*\x00\x08\x00\x00\x00\x00\x00", "the data is image/tiff"),
            (b"MM\x00*\x00\x00\x00\x08", "the data is image/tiff"),
            (
                b"PK\x03\x04\x14\x00\x00\x00",
                "not a recognised image format",
            ),
            (b"%PDF-1.7\n", "not a recognised image format"),
            (
                b"hello, this is not an image",
                "not a recognised image format",
            ),
            (&[0xFF, 0xD8], "not a recognised image format"), // too short for the JPEG magic
        ];
        for (bytes, expected) in cases {
            let err = refused(bytes, &DecodeLimits::default());
            assert_eq!(err.code(), "image_unsupported_format", "{expected}");
            let message = err.to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.ends_with("only JPEG, PNG and WebP images are accepted"));
        }
    }

    #[test]
    fn side_limit_is_enforced_from_the_header() {
        let limits = DecodeLimits {
            max_side: 50,
            ..DecodeLimits::default()
        };
        for bytes in [jpeg(&marked_image()), webp(&marked_image())] {
            let err = refused(&bytes, &limits);
            assert_eq!(err.code(), "image_side_too_long");
            assert_eq!(
                err.to_string(),
                "image is 64x32 px; neither side may exceed 50 px"
            );
        }
    }

    #[test]
    fn pixel_limit_is_enforced_from_the_header() {
        let limits = DecodeLimits {
            max_pixels: 2000,
            ..DecodeLimits::default()
        };
        let err = refused(&png(DynamicImage::ImageRgb8(marked_image())), &limits);
        assert_eq!(err.code(), "image_too_many_pixels");
        assert_eq!(
            err.to_string(),
            "image is 64x32 px (2048 pixels); the limit is 2000 pixels (0.0 megapixels), \
             downscale it before uploading"
        );
        let limits = DecodeLimits {
            max_pixels: 2048,
            ..DecodeLimits::default()
        };
        assert!(decode_image(&png(DynamicImage::ImageRgb8(marked_image())), &limits).is_ok());
    }

    #[test]
    fn huge_png_header_is_refused_quickly_without_allocating() {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB: 30 GB of pixels
                                                  // A zlib stream holding one empty stored block: the file is well-formed up to IDAT.
        let idat = [
            0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01,
        ];
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend(png_chunk(b"IHDR", &ihdr));
        bytes.extend(png_chunk(b"IDAT", &idat));
        bytes.extend(png_chunk(b"IEND", &[]));

        let start = Instant::now();
        let err = refused(&bytes, &DecodeLimits::default());
        // A 30 GB buffer would take far longer to fill, or abort the test process outright.
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "took {:?}",
            start.elapsed()
        );
        assert_eq!(err.code(), "image_too_many_pixels");
        assert!(err
            .to_string()
            .starts_with("image is 100000x100000 px (10000000000 pixels); the limit is 40000000 pixels (40.0 megapixels)"));
    }

    #[test]
    fn huge_jpeg_and_webp_headers_are_refused() {
        let mut big_jpeg = jpeg(&marked_image());
        let sof = big_jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        big_jpeg[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]); // 60000x60000
        let err = refused(&big_jpeg, &DecodeLimits::default());
        assert_eq!(err.code(), "image_too_many_pixels");
        assert!(err.to_string().starts_with("image is 60000x60000 px"));

        // Lossless WebP stores (width - 1) and (height - 1) in 14 bits each after "VP8L", size
        // and 0x2f. 16383x16383 rather than the format's 16384 maximum: image-webp 0.2.4 wraps
        // 16384 to 0, which is refused as corrupt by the zero-size check instead.
        let mut big_webp = webp(&marked_image());
        assert_eq!(&big_webp[12..16], b"VP8L");
        let header = u32::from_le_bytes(big_webp[21..25].try_into().unwrap());
        let header = (header & !0x0FFF_FFFF) | 16_382 | (16_382 << 14);
        big_webp[21..25].copy_from_slice(&header.to_le_bytes());
        let err = refused(&big_webp, &DecodeLimits::default());
        assert_eq!(err.code(), "image_too_many_pixels");
        assert!(err.to_string().starts_with("image is 16383x16383 px"));
    }

    #[test]
    fn lossless_and_arithmetic_jpegs_are_unsupported_encodings() {
        // SOF3 is lossless Huffman, SOF9 sequential arithmetic coding: valid JPEG, no decoder here.
        for sof in [0xC3, 0xC9] {
            let mut bytes = jpeg(&marked_image());
            let at = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
            bytes[at + 1] = sof;
            let err = refused(&bytes, &DecodeLimits::default());
            assert_eq!(err.code(), "image_unsupported_encoding", "SOF {sof:#x}");
            assert!(err
                .to_string()
                .starts_with("the JPEG file uses an encoding feature"));
        }
    }

    #[test]
    fn zero_height_is_corrupt() {
        let mut bytes = jpeg(&marked_image());
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bytes[sof + 5..sof + 7].copy_from_slice(&[0, 0]);
        assert_eq!(code(&bytes), "image_corrupt");
    }

    #[test]
    fn truncated_jpeg_is_corrupt_at_every_cut() {
        let bytes = jpeg(&marked_image());
        let n = bytes.len();
        // Including cuts inside the scan data, which the lenient decoder alone would fill with grey.
        for cut in [3, 20, 150, n / 2, n * 3 / 4, n - 2, n - 1] {
            let err = refused(&bytes[..cut], &DecodeLimits::default());
            assert_eq!(err.code(), "image_corrupt", "cut at {cut} of {n}");
            assert!(err.to_string().starts_with("the JPEG file is corrupt: "));
        }
    }

    #[test]
    fn jpeg_with_bytes_after_end_marker_is_accepted() {
        let mut bytes = jpeg(&marked_image());
        bytes.extend_from_slice(b"trailing vendor data");
        assert_eq!(
            decode_image(&bytes, &DecodeLimits::default())
                .unwrap()
                .dimensions(),
            (64, 32)
        );
    }

    #[test]
    fn truncated_png_is_corrupt_at_every_cut() {
        let bytes = png(DynamicImage::ImageRgb8(marked_image()));
        let n = bytes.len();
        for cut in [8, 20, 33, 40, n / 2, n - 16] {
            assert_eq!(code(&bytes[..cut]), "image_corrupt", "cut at {cut} of {n}");
        }
    }

    #[test]
    fn truncated_webp_is_corrupt_at_every_cut() {
        let bytes = webp(&marked_image());
        let n = bytes.len();
        for cut in [12, 16, 22, 25, n / 2, n - 1] {
            assert_eq!(code(&bytes[..cut]), "image_corrupt", "cut at {cut} of {n}");
        }
    }

    /// Extended WebP: a VP8X header announcing EXIF, the lossless image, then an EXIF chunk
    /// holding orientation 6 whose declared size is `exif_size`.
    fn webp_with_exif(exif_size: u32) -> Vec<u8> {
        let plain = webp(&marked_image());
        let mut body = b"WEBPVP8X".to_vec();
        body.extend_from_slice(&10u32.to_le_bytes());
        body.extend_from_slice(&[0x08, 0, 0, 0]); // flags: EXIF present
        body.extend_from_slice(&63u32.to_le_bytes()[..3]); // canvas width - 1
        body.extend_from_slice(&31u32.to_le_bytes()[..3]); // canvas height - 1
        body.extend_from_slice(&plain[12..]);
        body.extend_from_slice(b"EXIF");
        body.extend_from_slice(&exif_size.to_le_bytes());
        body.extend(exif_tiff(6, true));
        let mut bytes = b"RIFF".to_vec();
        bytes.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
        bytes.extend(body);
        bytes
    }

    #[test]
    fn webp_exif_orientation_is_applied() {
        let exif_size = u32::try_from(exif_tiff(6, true).len()).unwrap();
        let out = decode_image(&webp_with_exif(exif_size), &DecodeLimits::default()).unwrap();
        assert_eq!(out.dimensions(), (32, 64));
        assert_eq!(*out.get_pixel(24, 8), RED);
        assert_eq!(*out.get_pixel(8, 8), GREY);
    }

    #[test]
    fn webp_declaring_a_4_gib_exif_chunk_is_refused_before_reading_it() {
        let err = refused(&webp_with_exif(u32::MAX), &DecodeLimits::default());
        assert_eq!(
            err.to_string(),
            format!("the WebP file is corrupt: {TRUNCATED}")
        );
    }

    /// Found by the fuzz harness: zune-jpeg 0.5.15 panics on it (`idct/avx2.rs`, an unwrap on
    /// None), an instance of upstream issue etemesi254/zune-image#409.
    const JPEG_THAT_PANICS_ZUNE: &str = "\
        ffd8ff000000ffc0001108001000180301110002110103210000001101ffdb0043000d090a0b0a080d0b0a0b\
        0e0e0df301000000000000271c1e17202e2931302e292d2c333a4a3e333646372c2d405741464c4e52535232\
        3e5a615a50604a51524fffdb0043010e0e0e131113261515264f352d354f4f4f08010100000c41ffd9000000\
        0000010041ffd94f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4fffc4001f0000010501\
        010101010100000000000000000102030405060708090a0bffc4001510010100000000000000000000000000\
        000100ffda0008010100000c41ffd900000000d9";

    #[test]
    fn decoder_panic_is_reported_as_corrupt() {
        let bytes: Vec<u8> = (0..JPEG_THAT_PANICS_ZUNE.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&JPEG_THAT_PANICS_ZUNE[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(bytes.len(), 240);
        let err = refused(&bytes, &DecodeLimits::default());
        assert_eq!(
            err.to_string(),
            format!("the JPEG file is corrupt: {UNDECODABLE}")
        );
    }

    #[test]
    fn garbage_after_a_valid_magic_number_is_corrupt() {
        let magics: [&[u8]; 3] = [
            &[0xFF, 0xD8, 0xFF],
            b"\x89PNG\r\n\x1a\n",
            b"RIFF\x00\x10\x00\x00WEBP",
        ];
        for magic in magics {
            for seed in 0..200 {
                let mut bytes = magic.to_vec();
                bytes.extend(garbage(seed, 1 + (seed as usize * 37) % 3000));
                assert_eq!(
                    code(&bytes),
                    "image_corrupt",
                    "magic {magic:?}, seed {seed}"
                );
            }
        }
    }

    #[test]
    fn messages_never_quote_image_bytes() {
        const SECRET: &[u8] = b"SECRET-PAYLOAD-41";
        let plain_png = png(DynamicImage::ImageRgb8(marked_image()));
        let mut broken_png = png_with_chunk(&plain_png, b"tEXt", SECRET);
        broken_png.truncate(broken_png.len() - 30);
        // An unknown critical chunk: the library's own error quotes its name.
        let odd_chunk_png = png_with_chunk(&plain_png, b"SECR", SECRET);
        let mut jpeg_with_comment = jpeg(&marked_image());
        let mut comment = vec![0xFF, 0xFE, 0, u8::try_from(SECRET.len() + 2).unwrap()];
        comment.extend_from_slice(SECRET);
        jpeg_with_comment.splice(2..2, comment);
        jpeg_with_comment.truncate(jpeg_with_comment.len() / 2);
        let mut secret_after_magic = b"\x89PNG\r\n\x1a\n".to_vec();
        secret_after_magic.extend_from_slice(SECRET);
        let mut not_an_image = SECRET.to_vec();
        not_an_image.extend_from_slice(SECRET);

        for bytes in [
            broken_png,
            odd_chunk_png,
            jpeg_with_comment,
            secret_after_magic,
            not_an_image,
        ] {
            let err = refused(&bytes, &DecodeLimits::default());
            let message = format!("{err} / {err:?}");
            assert!(!message.contains("SECRET"), "{message}");
            assert!(!message.contains("SECR"), "{message}");
        }
    }

    #[test]
    fn library_errors_map_to_stable_codes() {
        use image::error::{
            ImageFormatHint, LimitError, LimitErrorKind, UnsupportedError, UnsupportedErrorKind,
        };
        let unsupported = image::ImageError::Unsupported(UnsupportedError::from_format_and_kind(
            ImageFormatHint::Exact(ImageFormat::Jpeg),
            UnsupportedErrorKind::GenericFeature("arithmetic coding".into()),
        ));
        assert_eq!(
            map_error(unsupported, "JPEG").code(),
            "image_unsupported_encoding"
        );
        let limit =
            image::ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory));
        let err = map_error(limit, "PNG");
        assert_eq!(err.code(), "image_decode_limit_exceeded");
        assert!(
            err.to_string().contains("64.0 MiB of working memory"),
            "{err}"
        );
        let eof = image::ImageError::IoError(ErrorKind::UnexpectedEof.into());
        assert_eq!(
            map_error(eof, "PNG").to_string(),
            format!("the PNG file is corrupt: {TRUNCATED}")
        );
        let other = image::ImageError::IoError(ErrorKind::InvalidData.into());
        assert_eq!(
            map_error(other, "WebP").to_string(),
            format!("the WebP file is corrupt: {UNDECODABLE}")
        );
    }

    #[test]
    fn error_codes_are_distinct_snake_case() {
        let all = [
            ImageError::Empty,
            ImageError::TooLarge { bytes: 2, limit: 1 },
            ImageError::UnsupportedFormat { detected: None },
            ImageError::TooManyPixels {
                width: 2,
                height: 2,
                limit: 3,
            },
            ImageError::SideTooLong {
                width: 2,
                height: 1,
                limit: 1,
            },
            ImageError::UnsupportedEncoding { format: "JPEG" },
            ImageError::DecodeLimitExceeded {
                format: "PNG",
                limit: 1,
            },
            ImageError::Corrupt {
                format: "WebP",
                reason: UNDECODABLE,
            },
        ];
        let mut codes: Vec<_> = all.iter().map(ImageError::code).collect();
        assert!(codes
            .iter()
            .all(|c| c.starts_with("image_")
                && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
