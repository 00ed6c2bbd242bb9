// Untrusted text in a prompt (a headline, a company description): rendered inside a tag, XML-escaped, so it can
// neither close its tag nor open another one; the system prompt says the tagged content is escaped data.

/** XML text escaping of `&`, `<` and `>` (ampersands first). */
export const escapeText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
