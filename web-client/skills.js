// skills.js: does a person have what a team misses? People write skills their own way ("design",
// "Designer", "UX designs"), teams write needs theirs ("Service design"), so a match is looser than
// the server's (which compares whole entries, ignoring ASCII case): case and punctuation do not count,
// plurals and common endings are folded ("writers", "writing" and "writer" are one word), and a skill
// matches a need when all the words of one are among the words of the other, a word also matching a
// longer word it begins ("facil" and "Facilitation"). Only for showing where someone would be useful;
// the server's `missing` stays as the server computes it. No DOM here, so node tests it too.

/** Words that say nothing about a skill. */
const FILLER = new Set(['and', 'or', 'of', 'the', 'a', 'an', 'for', 'in', 'with', 'to']);

/** Endings folded away, longest first: "facilitation" and "facilitator" are both "facilit". */
const ENDINGS = ['ations', 'ation', 'ators', 'ator', 'ments', 'ment', 'ings', 'ing', 'ers', 'er', 'ies', 's'];

/** A word without its ending, keeping at least three letters ("ies" becomes "y": "copies", "copy"). */
export function stem(word) {
  for (const ending of ENDINGS) {
    if (!word.endsWith(ending) || word.length - ending.length < 3) continue;
    if (ending === 's' && word.endsWith('ss')) return word;
    const rest = word.slice(0, -ending.length);
    return ending === 'ies' ? `${rest}y` : rest;
  }
  return word;
}

/** The stems of a skill's words, lower case, without punctuation or filler words. */
export function skillWords(text) {
  return String(text)
    .toLowerCase()
    .split(/[^a-z0-9\u00c0-\uffff]+/)
    .filter((word) => word && !FILLER.has(word))
    .map(stem);
}

/**
 * One word matches another when they are the same, or when the longer begins with the shorter and
 * the shorter is at least 3 letters and half the longer ("facil" and "facilit", not "java" and
 * "javascript").
 */
function wordsMatch(a, b) {
  if (a === b) return true;
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short.length >= 3 && short.length * 2 >= long.length && long.startsWith(short);
}

/** Whether `skill` (what a person says they can do) covers `need` (what a team says it needs). */
export function skillMatches(skill, need) {
  const have = skillWords(skill);
  const wanted = skillWords(need);
  if (have.length === 0 || wanted.length === 0) return false;
  const within = (some, all) => some.every((word) => all.some((other) => wordsMatch(word, other)));
  return within(have, wanted) || within(wanted, have);
}

/** The entries of `needs` that some skill of `skills` covers, in the order of `needs`. */
export function neededSkills(skills, needs) {
  return (needs || []).filter((need) => (skills || []).some((skill) => skillMatches(skill, need)));
}
