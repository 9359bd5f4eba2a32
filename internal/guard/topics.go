package guard

import (
	"hash/fnv"
	"math"
	"strings"
	"sync"
)

// TopicThreshold is the similarity at or above which text is on a denied
// topic. Similarity is the cosine between hashed feature vectors (word
// unigrams and bigrams after stop-word removal and light stemming, plus
// character 4-grams of each word for spelling variants; each feature
// weighted 1+log(tf)) of the text and of each example and the definition,
// taking the best. 0.20 separates everyday banking queries (<= 0.15) from
// paraphrased investment-advice questions (>= 0.22) in TestTopicThreshold;
// it is calibrated on that small set only.
const TopicThreshold = 0.20

const topicDims = 1 << 16

var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or but if of to in on at by for with about from into over under
		is are was were be been being am do does did doing have has had having i me my mine we our you your he she it its
		they them their this that these those what which who whom whose when where why how can could would should will
		shall may might must not no nor so than too very just also any some all each every there here up down out off
		again further then once only own same such both few more most other s t don now please pls hi hello thanks thank`) {
		m[w] = true
	}
	return m
}()

// stem strips the commonest English suffixes.
func stem(w string) string {
	for _, suf := range []string{"ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly"} {
		if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
			w = w[:len(w)-len(suf)]
			if suf == "ies" || suf == "ied" {
				w += "y"
			}
			return w
		}
	}
	return w
}

type sparse map[uint32]float64

func hashFeat(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32() % topicDims
}

// topicVector builds the normalised feature vector of s.
func topicVector(s string) sparse {
	var words []string
	for _, t := range tokenize(s, false) {
		if !stopWords[t.w] {
			words = append(words, stem(t.w))
		}
	}
	tf := sparse{}
	for i, w := range words {
		tf[hashFeat("u", w)] += 1
		if i+1 < len(words) {
			tf[hashFeat("b", w, words[i+1])] += 1
		}
		g := "<" + w + ">"
		for k := 0; k+4 <= len(g); k++ {
			tf[hashFeat("c", g[k:k+4])] += 0.25
		}
	}
	norm := 0.0
	for k, v := range tf {
		v = 1 + math.Log(1+v)
		tf[k] = v
		norm += v * v
	}
	norm = math.Sqrt(norm)
	if norm > 0 {
		for k := range tf {
			tf[k] /= norm
		}
	}
	return tf
}

func cosine(a, b sparse) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	s := 0.0
	for k, v := range a {
		s += v * b[k]
	}
	return s
}

// TopicScore returns how close text is to the topic: the best cosine
// against its definition and each example.
func TopicScore(t TopicConfig, text string) float64 {
	q := topicVector(text)
	best := cosine(q, policyVector(t.Definition))
	for _, ex := range t.Examples {
		best = max(best, cosine(q, policyVector(ex)))
	}
	return best
}

// policyVectors memoizes the vectors of topic definitions and examples:
// policies are few and change rarely, while every request scores against
// them. Vectors are read-only once made. The cache is dropped whole when it
// grows past policyVectorLimit entries.
var (
	policyVectorsMu sync.RWMutex
	policyVectors   = map[string]sparse{}
)

const policyVectorLimit = 4096

func policyVector(s string) sparse {
	policyVectorsMu.RLock()
	v, ok := policyVectors[s]
	policyVectorsMu.RUnlock()
	if ok {
		return v
	}
	v = topicVector(s)
	policyVectorsMu.Lock()
	if len(policyVectors) >= policyVectorLimit {
		clear(policyVectors)
	}
	policyVectors[s] = v
	policyVectorsMu.Unlock()
	return v
}

func applyTopics(p *TopicPolicyConfig, src Source, content []string) (*TopicPolicyAssessment, bool) {
	ta := &TopicPolicyAssessment{Topics: []TopicResult{}}
	blocked := false
	for _, t := range p.TopicsConfig {
		on, act := t.effective(src, ActionBlock)
		if !on {
			continue
		}
		hit := false
		for _, c := range content {
			// Score each sentence-sized piece too, so one off-topic line in
			// a long message is still caught.
			if TopicScore(t, c) >= TopicThreshold {
				hit = true
				break
			}
			for _, piece := range strings.FieldsFunc(c, func(r rune) bool { return r == '.' || r == '?' || r == '!' || r == '\n' }) {
				if TopicScore(t, piece) >= TopicThreshold {
					hit = true
					break
				}
			}
		}
		if hit {
			ta.Topics = append(ta.Topics, TopicResult{Name: t.Name, Type: "DENY", Action: pastTense(act), Detected: true})
			blocked = blocked || act == ActionBlock
		}
	}
	if len(ta.Topics) == 0 {
		return nil, false
	}
	return ta, blocked
}
