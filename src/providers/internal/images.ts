/**
 * Image data URLs as Claude and Gemini take them.
 *
 * @internal
 */

/** A base64 data URL: its media type (parameters such as `;charset=` before `;base64` left out) and its data. */
const dataUrl = /^data:([^;,]+)(?:;[^;,]*)*?;base64,(.*)$/s

/**
 * The type an image's first bytes say it is: JPEG, PNG, GIF or WebP, the
 * types Claude takes; none for other bytes.
 */
const sniffed = (base64: string): string | undefined => {
  // 16 base64 characters are the first 12 bytes: enough for each signature (WebP's "WEBP" is at bytes 8 to 11)
  const head = Buffer.from(base64.slice(0, 16), "base64")
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg"
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return "image/png"
  if (head.toString("latin1", 0, 4) === "GIF8") return "image/gif"
  if (head.toString("latin1", 0, 4) === "RIFF" && head.toString("latin1", 8, 12) === "WEBP") return "image/webp"
  return undefined
}

/**
 * A base64 data URL's media type and data, or `undefined` for another URL.
 * The type is the one the data's first bytes say, where they say one, else
 * the URL's: Claude checks the type against the bytes (a 400, "The image
 * was specified using the image/png media type, but the image appears to
 * be a image/jpeg image") and takes `image/jpeg`, not `image/jpg`, where
 * OpenAI reads the bytes whatever the URL calls them; a JPEG labelled PNG
 * (a file's extension trusted) would end the chain there.
 *
 * @internal
 */
export const imageData = (url: string): { readonly mediaType: string; readonly data: string } | undefined => {
  const match = dataUrl.exec(url)
  if (match === null) return undefined
  const data = match[2]!
  return { mediaType: sniffed(data) ?? match[1]!, data }
}
