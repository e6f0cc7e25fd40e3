//! Entry points for the project's fuzz targets (`fuzz/` at the workspace root). Not part of the
//! API: hidden from the docs, and free to change in any release.

use crate::list_splitter::Splitter;

/// What the streaming list splitter made of an answer: its items, and the skeleton (the answer
/// with an empty `items` array), or the error it reported.
pub type Split = Result<(Vec<Vec<u8>>, Vec<u8>), String>;

/// Splits `answer`, fed in pieces of `piece` bytes (at least 1), as the informer does with a list
/// answer arriving over the network; `strip` leaves managedFields out, as the informer can.
pub fn split_list(answer: &[u8], piece: usize, strip: bool) -> Split {
    let mut splitter = Splitter::new(strip);
    let mut items = Vec::new();
    for chunk in answer.chunks(piece.max(1)) {
        splitter
            .feed(chunk, &mut |item, _managed_fields| {
                items.push(item.to_vec());
                Ok(())
            })
            .map_err(|e| e.to_string())?;
    }
    let skeleton = splitter.finish().map_err(|e| e.to_string())?;
    Ok((items, skeleton))
}
