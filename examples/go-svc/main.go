// go-svc: the middle hop of the otelflow example fleet (python-api -> go-svc -> rust-svc).
//
// net/http with otelhttp on both sides: the handler continues the W3C trace context that
// python-api sent, and the client transport injects it into the call to rust-svc. Spans go
// over OTLP/gRPC (otlptracegrpc, batched); logs go through log/slog bridged to OpenTelemetry
// (otelslog + otlploggrpc), so each record carries the trace and span IDs of its context.
//
// Common mistakes avoided here: a batch span processor (WithBatcher), resource attributes
// (service.name, service.version, deployment.environment), bounded attributes (the SKU comes
// from a fixed list; no user ids or URLs with ids as span names), and a shutdown that flushes
// both providers on SIGTERM (the deferred Shutdown calls run after the server has drained).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

const serviceName = "go-svc"

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// The SKUs this service knows: the only values the shop.sku attribute can take.
var catalogue = map[string]bool{"widget": true, "gadget": true, "gizmo": true}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	// OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4317) is read by both exporters.
	// Defaults first; OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (WithFromEnv) override them.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			semconv.ServiceName(serviceName),
			semconv.ServiceVersion("0.1.0"),
			attribute.String("deployment.environment", "dev"),
		),
		resource.WithFromEnv(),
	)
	if err != nil {
		slog.Error("resource", "error", err)
		os.Exit(1)
	}

	traceExporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithInsecure())
	if err != nil {
		slog.Error("trace exporter", "error", err)
		os.Exit(1)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExporter), sdktrace.WithResource(res))
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tp.Shutdown(c) // flushes the batch of spans still queued
	}()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	logExporter, err := otlploggrpc.New(ctx, otlploggrpc.WithInsecure())
	if err != nil {
		slog.Error("log exporter", "error", err)
		os.Exit(1)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(logExporter)), sdklog.WithResource(res))
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = lp.Shutdown(c) // deferred last, runs first: logs of the shutdown itself are still sent
	}()
	global.SetLoggerProvider(lp)
	logger := otelslog.NewLogger(serviceName, otelslog.WithLoggerProvider(lp))

	rustURL := getenv("RUST_SVC_URL", "http://127.0.0.1:8082")
	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport), Timeout: 5 * time.Second}
	tracer := otel.Tracer(serviceName)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /stock/{sku}", func(w http.ResponseWriter, r *http.Request) {
		sku := r.PathValue("sku")
		if !catalogue[sku] {
			sku = "unknown"
		}
		// The route template, never the raw path, names the server span (bounded span names).
		route := r.Pattern[strings.IndexByte(r.Pattern, ' ')+1:] // "GET /stock/{sku}" -> "/stock/{sku}"
		span := trace.SpanFromContext(r.Context())
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route), attribute.String("shop.sku", sku))
		logger.InfoContext(r.Context(), "checking stock", "shop.sku", sku)

		// A child span for the business step; the client span of the call below nests in it.
		ctx, check := tracer.Start(r.Context(), "check-stock", trace.WithAttributes(attribute.String("shop.sku", sku)))
		defer check.End()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rustURL+"/price/"+sku, nil)
		resp, err := client.Do(req)
		if err != nil {
			check.RecordError(err)
			logger.ErrorContext(ctx, "price lookup failed", "error", err)
			http.Error(w, "price lookup failed", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		check.SetAttributes(attribute.Int("shop.in_stock", 7))
		logger.InfoContext(ctx, "stock checked", "shop.sku", sku, "price_cents", string(body))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"sku":%q,"in_stock":7,"price_cents":%q}`, sku, string(body))
	})

	addr := getenv("GO_SVC_ADDR", "127.0.0.1:8081")
	server := &http.Server{
		Addr:    addr,
		Handler: otelhttp.NewHandler(mux, "go-svc"),
	}
	go func() {
		logger.Info("go-svc listening", "addr", addr)
		if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("server", "error", err)
			stop()
		}
	}()
	<-ctx.Done()
	logger.Info("go-svc shutting down, flushing telemetry")
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = server.Shutdown(c)
}
