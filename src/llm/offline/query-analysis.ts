import { withoutFaults } from './offline-fault';

/**
 * Reads the subjects, topic and time frame out of a question, so the offline model's
 * plans and reports follow what was asked rather than a fixed script.
 */
export interface QueryAnalysis {
  subjects: string[];
  topic: string;
  timeframe: string;
  focus: string;
}

const NOT_SUBJECTS = new Set(
  (
    'a an the and or of on in for to with over by from about what which who how why when where ' +
    'is are was were be do does did can could should would will please i we you it this that these those ' +
    'analyze analyse summarize summarise compare explain describe evaluate assess write rewrite list ' +
    'give find tell show make plan research review investigate outline discuss identify focus keep ' +
    'only also then now current status report summary key findings'
  ).split(' '),
);

export function analyzeQuery(raw: string): QueryAnalysis {
  const text = withoutFaults(raw);
  return {
    subjects: subjectsOf(text),
    topic: topicOf(text),
    timeframe: timeframeOf(text),
    focus: focusOf(text),
  };
}

/** Capitalised names, in order of first mention: "Apple, Google, and Tesla" → three. */
export function subjectsOf(text: string): string[] {
  const found: string[] = [];
  const pattern = /\b([A-Z][A-Za-z0-9&+.-]*(?:\s+[A-Z][A-Za-z0-9&+.-]*)*)/g;
  for (const match of text.matchAll(pattern)) {
    const words = match[1]
      .replace(/[.]+$/, '')
      .replace(/'s$|’s$/, '')
      .split(/\s+/)
      .filter((w) => !NOT_SUBJECTS.has(w.toLowerCase()));
    const name = words.join(' ').trim();
    if (name.length > 1 && !found.some((f) => f.toLowerCase() === name.toLowerCase())) {
      found.push(name);
    }
  }
  return found;
}

function topicOf(text: string): string {
  const ofMatch = /\b(?:the\s+)?([a-z][a-z -]{2,60}?)\s+of\s+[A-Z]/.exec(text);
  if (ofMatch) return ofMatch[1].replace(/^(?:analy[sz]e|compare|summari[sz]e|explain)\s+(?:the\s+)?/, '').trim();
  const words = text
    .replace(/[^\p{L}\p{N}\s'-]/gu, ' ')
    .split(/\s+/)
    .filter((w) => w && !NOT_SUBJECTS.has(w.toLowerCase()));
  return words.slice(0, 6).join(' ').toLowerCase() || 'the question';
}

function timeframeOf(text: string): string {
  const m =
    /\b(?:over|in|during|for|within)\s+the\s+(?:last|past|next|previous)\s+[a-z0-9 ]+?(?=\s+(?:and|to|with|but)\b|[,.;!?]|$)/i.exec(
      text,
    );
  return m ? m[0].trim() : '';
}

/** "focus only on Tesla's stock volatility" → "stock volatility". */
function focusOf(text: string): string {
  const m = /\bfocus(?:ing)?\s+(?:only\s+)?on\s+(.+?)(?:[.;!?]|$)/i.exec(text);
  if (!m) return '';
  return m[1].replace(/\b[A-Z][A-Za-z0-9&.-]*(?:'s|’s)?\s*/g, '').trim();
}

/** A small deterministic number generator, seeded by text. */
export function seededRandom(seed: string): () => number {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return () => {
    h = Math.imul(h ^ (h >>> 15), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    h ^= h >>> 16;
    return (h >>> 0) / 4294967296;
  };
}
