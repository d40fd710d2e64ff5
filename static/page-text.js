/* The page's words for what a script writes, in the page's language.
 *
 * Templates put them on an element as JSON in data-text; pageText(element) returns t(key,
 * fallback, vars), which gives the page's word for key (or the English fallback) with {name}
 * placeholders filled from vars.
 */
export function pageText(element) {
  var words = {};
  try { words = JSON.parse(element.getAttribute("data-text") || "{}"); } catch (e) { words = {}; }
  return function t(key, fallback, vars) {
    var text = words[key] || fallback;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("{" + k + "}").join(vars[k]); });
    return text;
  };
}
