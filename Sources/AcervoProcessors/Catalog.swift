import AcervoConnectors
import AcervoEngine
import AcervoRules

/// Every processor this Acervo provides, local and cloud, in one place.
public enum ProcessorCatalog {
    /// The processors that run on this machine only.
    public static let local: [any Processor] = [
        MediaProbe(), AudioExtractor(), KeyframeExtractor(), TesseractOCR(),
        CaptionsProcessor(), MaterialsProcessor(), TaxonomyClassifier(), MarkdownDocument(),
    ]

    /// What rules may name: rules are validated against these before any provider is contacted.
    public static var descriptors: [ProcessorDescriptor] {
        local.map(\.descriptor) + [
            OpenAITranscriber.descriptor, GoogleSpeechTranscriber.descriptor, GeminiAnalyzer.descriptor, GeminiClassifier.descriptor,
            GoogleVisionOCR.descriptor,
        ]
    }

    /// Every implementation. Cloud processors share `providers` (keys, HTTP sessions, prices); a provider's key
    /// is needed only when one of its actions runs.
    public static func processors(_ providers: Providers) -> [any Processor] {
        local + [
            OpenAITranscriber(providers), GoogleSpeechTranscriber(providers), GeminiAnalyzer(providers), GeminiClassifier(providers),
            GoogleVisionOCR(providers),
        ]
    }
}
