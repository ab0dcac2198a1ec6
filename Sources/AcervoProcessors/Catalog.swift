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

    /// Every implementation. Cloud processors share `context` (keys, HTTP sessions) and price their calls
    /// from `prices`; a provider's key is needed only when one of its actions runs.
    public static func processors(context: ConnectorContext, prices: PriceTable) -> [any Processor] {
        local + [
            OpenAITranscriber(context: context, prices: prices), GoogleSpeechTranscriber(context: context, prices: prices),
            GeminiAnalyzer(context: context, prices: prices), GeminiClassifier(context: context, prices: prices),
            GoogleVisionOCR(context: context, prices: prices),
        ]
    }
}
