//! Streaming a recording to a WAV file (`--record`): the file is created before the call, the
//! samples go to it through a buffer as they arrive, and the RIFF and `data` sizes are fixed
//! up at the end. Memory stays constant however long the call lasts.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::wav::{encode, WavError};

/// Byte offset of the RIFF chunk size and of the `data` chunk size in our 44-byte header.
const RIFF_SIZE_AT: u64 = 4;
const DATA_SIZE_AT: u64 = 40;
const HEADER_LEN: u32 = 44;

/// A 16-bit mono PCM WAV file being written.
#[derive(Debug)]
pub struct WavWriter {
    path: PathBuf,
    file: BufWriter<File>,
    /// Bytes of sample data written so far.
    data_bytes: u64,
    finished: bool,
}

impl WavWriter {
    /// Creates (or truncates) `path` and writes a header for `rate` Hz with zero sizes, so the
    /// file is a valid, empty WAV from the start.
    pub fn create(path: &Path, rate: u32) -> Result<WavWriter, WavError> {
        let file = File::create(path)?;
        let mut file = BufWriter::with_capacity(64 * 1024, file);
        file.write_all(&encode(&[], rate))?;
        // On disk now: the file is a readable (empty) WAV even if the call never starts.
        file.flush()?;
        Ok(WavWriter {
            path: path.to_path_buf(),
            file,
            data_bytes: 0,
            finished: false,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends samples (buffered).
    pub fn write_samples(&mut self, samples: &[i16]) -> Result<(), WavError> {
        let mut bytes = Vec::with_capacity(samples.len() * 2);
        for s in samples {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        self.file.write_all(&bytes)?;
        self.data_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.data_bytes / 2
    }

    /// Flushes and writes the final RIFF and `data` sizes. A recording beyond the 4 GiB a
    /// RIFF size can express keeps its samples but says 4 GiB (readers then stop there).
    pub fn finish(mut self) -> Result<u64, WavError> {
        self.finalize()?;
        Ok(self.samples())
    }

    fn finalize(&mut self) -> Result<(), WavError> {
        self.finished = true;
        let data = u32::try_from(self.data_bytes)
            .unwrap_or(u32::MAX - HEADER_LEN)
            .min(u32::MAX - HEADER_LEN);
        self.file.flush()?;
        let file = self.file.get_mut();
        file.seek(SeekFrom::Start(RIFF_SIZE_AT))?;
        file.write_all(&(data + HEADER_LEN - 8).to_le_bytes())?;
        file.seek(SeekFrom::Start(DATA_SIZE_AT))?;
        file.write_all(&data.to_le_bytes())?;
        file.seek(SeekFrom::End(0))?;
        file.flush()?;
        Ok(())
    }
}

impl Drop for WavWriter {
    /// A writer dropped without `finish` (an error path) still leaves a readable file.
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = self.finalize() {
                tracing::warn!("cannot finish {}: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::wav;
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("icephone-wav-writer-{}-{name}", std::process::id()))
    }

    #[test]
    fn streamed_file_equals_the_one_shot_encoding() {
        let path = temp("stream.wav");
        let samples: Vec<i16> = (0..1000).map(|i| (i * 31 - 9000) as i16).collect();
        let mut w = WavWriter::create(&path, 8000).unwrap();
        for chunk in samples.chunks(160) {
            w.write_samples(chunk).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 1000);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, wav::encode(&samples, 8000));
        assert_eq!(wav::parse(&bytes).unwrap().samples, samples);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_empty_or_dropped_recording_is_still_a_valid_wav() {
        let path = temp("dropped.wav");
        let mut w = WavWriter::create(&path, 8000).unwrap();
        assert!(wav::read(&path).unwrap().samples.is_empty());
        w.write_samples(&[1, 2, 3]).unwrap();
        drop(w);
        assert_eq!(wav::read(&path).unwrap().samples, vec![1, 2, 3]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_uncreatable_path_is_an_error() {
        let e = WavWriter::create(Path::new("/nonexistent-dir/x.wav"), 8000).unwrap_err();
        assert!(matches!(e, WavError::Io(_)), "{e:?}");
    }
}
